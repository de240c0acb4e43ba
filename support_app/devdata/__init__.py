"""Development data: the demo accounts (demo.py) and the large-data generator
(``python -m support_app.devdata.large``). Never imported by the app."""
