"""An MCP server built with the reference Python SDK (`mcp` on PyPI), for the interoperability test.

Usage: python_server.py PORT [streamable-http|sse] [ISSUER_URL TOKEN]

With ISSUER_URL and TOKEN the server is protected: without `Authorization: Bearer TOKEN` it
answers 401 with a `resource_metadata` challenge (RFC 9728) naming ISSUER_URL as its
authorization server.
"""
import sys

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations


class OneToken:
    """Accepts exactly one bearer token."""

    def __init__(self, token: str):
        self.token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        if token != self.token:
            return None
        return AccessToken(token=token, client_id="mcpops-interop", scopes=[])


port = int(sys.argv[1])
transport = sys.argv[2] if len(sys.argv) > 2 else "streamable-http"
protection = {}
if len(sys.argv) > 4:
    protection = {
        "auth": AuthSettings(
            issuer_url=sys.argv[3],
            resource_server_url=f"http://127.0.0.1:{port}/mcp",
        ),
        "token_verifier": OneToken(sys.argv[4]),
    }
server = MCPServer("interop-python", version="9.9.9", **protection)


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def echo(text: str) -> str:
    """Returns its input."""
    return text


if __name__ == "__main__":
    server.run(transport=transport, host="127.0.0.1", port=port)
