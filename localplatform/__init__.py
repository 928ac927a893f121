"""The whole platform on a laptop: moto as the local AWS, the app in-process, the ingest pump.

Never shipped to Lambda: `chalice package` takes only app.py and chalicelib/.
"""
