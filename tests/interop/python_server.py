"""An MCP server built with the reference Python SDK (`mcp` on PyPI), for the interoperability test.

Usage: python_server.py PORT [streamable-http|sse]
"""
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("interop-python", version="9.9.9")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Returns its input."""
    return text


if __name__ == "__main__":
    transport = sys.argv[2] if len(sys.argv) > 2 else "streamable-http"
    server.run(transport=transport, host="127.0.0.1", port=int(sys.argv[1]))
