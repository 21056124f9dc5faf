"""The app as an MCP server (`launch(mcp_server=True)` in app.py): an agent lists its tools and calls one,
and a tool call goes through the same file gate as every endpoint."""
import asyncio
import base64
import shutil

import pytest

from conftest import start_app
from fmnist.views import example_paths


@pytest.fixture(scope="module")
def app_url():
    proc, url = start_app({})
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def _session(url: str, work):
    """work(session) in an MCP client session over the app's streamable HTTP transport."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def run():
        async with streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


def _data_url(path) -> str:
    return "data:image/png;base64," + base64.b64encode(open(path, "rb").read()).decode()


@pytest.mark.slow
def test_an_mcp_client_lists_the_garment_tools_and_calls_one(app_url):
    """predict and verdict are the tools (the UI's own events are not), each with its docstring as the
    description and a documented image argument; a picture sent as a data URL is answered."""
    trouser = next(p for p in example_paths() if "trouser" in str(p))

    async def work(session):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        result = await session.call_tool("verdict", {"image": _data_url(trouser)})
        return tools, result

    tools, result = _session(app_url, work)
    assert set(tools) == {"predict", "verdict"}, set(tools)
    assert "garment" in tools["verdict"].description and "Fashion-MNIST" in tools["predict"].description
    assert "PNG, JPEG" in tools["predict"].inputSchema["properties"]["image"]["description"]
    assert not result.isError, result.content
    assert "'answer': 'Trouser'" in result.content[0].text


@pytest.mark.slow
def test_an_mcp_tool_call_naming_a_server_file_is_refused(app_url, tmp_path):
    """A tool call that names a file on the server (a path, a file:// URL, this app's own file route
    with a path outside its upload cache) is refused and nothing is classified, even for a real image."""
    outside = tmp_path / "private-trouser.png"
    shutil.copy(next(p for p in example_paths() if "trouser" in str(p)), outside)
    names = [str(outside), "/etc/passwd", f"file://{outside}", f"{app_url}gradio_api/file={outside}",
             f"{app_url}gradio_api/file=/etc/passwd"]

    async def work(session):
        return [await session.call_tool("predict", {"image": name}) for name in names]

    for name, result in zip(names, _session(app_url, work)):
        assert result.isError, (name, result.content)
        assert "Trouser" not in str(result.content) and "root:" not in str(result.content), (name, result.content)
