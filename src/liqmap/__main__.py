from liqmap.cli import app

app()
