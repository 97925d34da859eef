#!/usr/bin/env python3
"""A minimal MCP stdio server, written from the specification alone
(https://modelcontextprotocol.io/specification, transport "stdio": one
JSON-RPC 2.0 message per line on stdin and stdout), with the standard
library only. It knows nothing of Keel; tests use it to prove that keel talks
to any server that follows the protocol.

Tools:
  reverse {text}   returns the text reversed
  fail    {}       returns a result with isError set
"""
import json
import sys

VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]

TOOLS = [
    {
        "name": "reverse",
        "description": "Reverse a string of text",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "the text to reverse"}},
            "required": ["text"],
        },
    },
    {
        "name": "fail",
        "description": "Always fails",
        "inputSchema": {"type": "object", "properties": {}},
    },
]


def result(msg_id, value):
    return {"jsonrpc": "2.0", "id": msg_id, "result": value}


def error(msg_id, code, message):
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def handle(msg):
    method = msg.get("method")
    msg_id = msg.get("id")
    params = msg.get("params") or {}
    if msg_id is None:
        return None  # a notification (notifications/initialized, cancelled...)
    if method == "initialize":
        asked = params.get("protocolVersion")
        return result(msg_id, {
            "protocolVersion": asked if asked in VERSIONS else VERSIONS[0],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "testdata-python", "version": "1.0"},
        })
    if method == "ping":
        return result(msg_id, {})
    if method == "tools/list":
        return result(msg_id, {"tools": TOOLS})
    if method == "tools/call":
        name = params.get("name")
        args = params.get("arguments") or {}
        if name == "reverse":
            text = args.get("text")
            if not isinstance(text, str):
                return result(msg_id, {"content": [{"type": "text", "text": "text must be a string"}], "isError": True})
            return result(msg_id, {"content": [{"type": "text", "text": text[::-1]}]})
        if name == "fail":
            return result(msg_id, {"content": [{"type": "text", "text": "the tool failed on purpose"}], "isError": True})
        return error(msg_id, -32602, "unknown tool: %s" % name)
    return error(msg_id, -32601, "method not found: %s" % method)


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            reply = error(None, -32700, "parse error")
        else:
            reply = handle(msg)
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
