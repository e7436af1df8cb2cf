"""The function's actions: upload, process, delete (heavy, behind the password) and health.

Each takes the Runtime and a typed request (parsed by requests.py) and answers a JSON-ready
dict or a RawImage; none of them sees the HTTP request.
"""
