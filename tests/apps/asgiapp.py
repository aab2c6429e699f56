"""ASGI app the tests run under real uvicorn: the WebSocket/ASGI side of a Django Channels style deployment.

  websocket /ws/...      echoes every text or binary message back
  http      anything     small JSON naming the ASGI server and the path
"""
import json


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await _echo(receive, send)
    elif scope["type"] == "http":
        body = json.dumps({"server": "asgi", "path": scope["path"]}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _echo(receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes")})
        elif message["type"] == "websocket.disconnect":
            return
