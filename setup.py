"""Package metadata comes from settings.ini (nbdev's convention)."""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    author=cfg['author'],
    license='Apache Software License 2.0',
    python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=['vlfau', 'vlfau.*']),
    include_package_data=True,
    package_data={'vlfau': ['report/published/*.csv']},  # the paper's published tables, read by vlfau.report.tables
    install_requires=cfg['requirements'].split(),
    extras_require={'dev': cfg['dev_requirements'].split()},
    entry_points={'console_scripts': cfg['console_scripts'].split(),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False,
)
