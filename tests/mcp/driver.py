"""A real MCP client (the official Python SDK, PyPI `mcp`) driving `w2s mcp`
over stdio, for tests/all/mcp.rs.

Usage: driver.py CONFIG.json, where CONFIG has
  w2s       the w2s executable
  cwd       the server's working directory
  mode      "local" or "remote"
  args      extra arguments of `w2s mcp`
  parent    (local) where new_strategy writes the project
  wasm      (remote) a built component to evaluate
  log       where to write every tool result (JSON lines), for the Rust
            side's leak checks

Each scenario asserts as it goes and exits non-zero on the first failure,
naming it. Runs every tool at least once across the two modes.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client

TOOLS = {
    "list_methods", "task_card", "explain_policy", "new_strategy", "build_strategy",
    "evaluate", "submit", "status", "report", "leaderboard",
}


class Log:
    """Every result, one JSON line each, for the leak checks."""

    def __init__(self, path):
        self.file = open(path, "w", encoding="utf-8")

    def write(self, tool, args, result):
        text = "".join(getattr(c, "text", "") for c in result.content)
        self.file.write(json.dumps({
            "tool": tool, "args": args, "is_error": bool(result.is_error),
            "text": text, "structured": result.structured_content,
        }) + "\n")
        self.file.flush()


async def call(session, log, tool, args, progress=None):
    result = await session.call_tool(tool, args, progress_callback=progress,
                                     read_timeout_seconds=1800)
    log.write(tool, args, result)
    return result


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


def expect_ok(result, what):
    assert not result.is_error, f"{what}: unexpected tool error: {text_of(result)}"
    assert isinstance(result.structured_content, dict), f"{what}: no structured content"
    return result.structured_content


def expect_error(result, codes, what, mentions=None):
    assert result.is_error, f"{what}: expected a tool error, got {text_of(result)[:300]}"
    code = result.structured_content["error"]["code"]
    assert code in codes, f"{what}: code {code!r}, expected one of {codes}: {text_of(result)}"
    assert text_of(result).startswith(code + ":"), f"{what}: text does not lead with the code"
    if mentions:
        assert mentions in text_of(result), f"{what}: {mentions!r} not in {text_of(result)!r}"
    return code


async def check_tools(session):
    listed = (await session.list_tools()).tools
    names = {t.name for t in listed}
    assert names == TOOLS, f"tools listed: {sorted(names)}"
    for t in listed:
        assert t.description and len(t.description) > 40, f"{t.name}: no real description"
        assert t.input_schema.get("type") == "object", f"{t.name}: schema {t.input_schema}"
    build = next(t for t in listed if t.name == "build_strategy")
    assert build.input_schema.get("required") == ["path"], build.input_schema


async def unknown_tool(session):
    try:
        result = await session.call_tool("no_such_tool", {})
    except MCPError as e:
        assert "no_such_tool" in str(e), str(e)
        return
    assert result.is_error, "an unknown tool must fail"


async def local(session, cfg, log):
    await check_tools(session)
    methods = expect_ok(await call(session, log, "list_methods", {}), "list_methods")["methods"]
    vanilla = next(m for m in methods if m["plugin"] == "vanilla")
    assert vanilla["source"] and vanilla["lang"] == "rust" and "lib.rs" in vanilla["files"]
    py = expect_ok(await call(session, log, "list_methods", {"lang": "python"}), "list_methods")
    assert py["methods"] and all(m["lang"] == "python" for m in py["methods"])
    card = expect_ok(await call(session, log, "task_card", {}), "task_card")
    assert card["classes"] == 4 and card["splits"]["pool"] > 0, card
    policy = expect_ok(await call(session, log, "explain_policy", {}), "explain_policy")
    assert len(policy["sha256"]) == 64 and "fuel" in policy["text"], policy

    # The research loop: new -> build -> evaluate, with progress.
    project = expect_ok(await call(session, log, "new_strategy",
                                   {"name": "agent-strat", "parent": cfg["parent"]}),
                        "new_strategy")
    assert os.path.isfile(project["strategy_file"]), project
    built = expect_ok(await call(session, log, "build_strategy", {"path": project["dir"]}),
                      "build_strategy")
    assert os.path.isfile(built["wasm"]) and len(built["sha256"]) == 64, built
    steps = []

    async def progress(done, total, message):
        steps.append((done, total, message))

    result = expect_ok(await call(session, log, "evaluate",
                                  {"wasm": built["wasm"], "config": "epochs=2"}, progress),
                       "evaluate")
    fb = result["feedback"]
    assert fb["outcomes"] and all(o == "completed" for o in fb["outcomes"]), fb
    assert isinstance(fb["public_pgr"], float) and fb["resolution"] == 0.01, fb
    assert round(fb["public_pgr"], 2) == fb["public_pgr"], fb
    assert steps, "no progress notification during evaluate"

    # Bad input: a tool error naming the problem, and the server keeps serving.
    await unknown_tool(session)
    expect_error(await call(session, log, "build_strategy", {}), ["invalid_arguments"],
                 "missing path", mentions="path")
    expect_error(await call(session, log, "evaluate", {"wasm": 42}), ["invalid_arguments"],
                 "wrong-typed wasm", mentions="invalid type")
    expect_error(await call(session, log, "evaluate", {"wasm": built["wasm"], "seeds": [1]}),
                 ["invalid_arguments"], "an agent cannot choose seeds", mentions="seeds")
    junk = os.path.join(cfg["parent"], "junk.wasm")
    with open(junk, "wb") as f:
        f.write(b"\0asm\x01\0\0\0 this is a core module header, then garbage")
    expect_error(await call(session, log, "evaluate", {"wasm": junk}),
                 ["invalid-module", "evaluation_refused"], "not a component")
    expect_error(await call(session, log, "evaluate",
                            {"wasm": built["wasm"], "task": "no-such-task"}),
                 ["unknown_task"], "unknown task", mentions="no-such-task")
    expect_error(await call(session, log, "task_card", {"task": "../../etc"}),
                 ["unknown_task"], "task outside the tasks directory")
    expect_error(await call(session, log, "new_strategy", {"name": "Bad Name"}),
                 ["invalid_name"], "bad project name")
    expect_error(await call(session, log, "new_strategy",
                            {"name": "x1", "parent": cfg["parent"], "from": "nope"}),
                 ["unknown_method"], "unknown method", mentions="nope")
    expect_error(await call(session, log, "build_strategy", {"path": cfg["parent"]}),
                 ["not_a_project"], "not a project")
    expect_error(await call(session, log, "submit", {"wasm": built["wasm"]}),
                 ["needs_server"], "submit in local mode")
    await check_tools(session)


async def remote(session, cfg, log):
    await check_tools(session)
    steps = []

    async def progress(done, total, message):
        steps.append(message)

    result = expect_ok(await call(session, log, "evaluate", {"wasm": cfg["wasm"]}, progress),
                       "evaluate (remote)")
    assert all(o == "completed" for o in result["feedback"]["outcomes"]), result
    assert any("done" in s for s in steps), steps
    sid = result["submission_id"]
    status = expect_ok(await call(session, log, "status", {"id": sid}), "status")
    assert status["status"] == "done" and "summary" not in status, status
    assert status["feedback"]["public_pgr"] == result["feedback"]["public_pgr"]
    report = expect_ok(await call(session, log, "report", {"id": sid}), "report")
    assert set(report) >= {"feedback", "wasm", "task", "policy_sha256"}, report
    assert "score" not in report and "seeds" not in report and "runs" not in report, report
    board = expect_ok(await call(session, log, "leaderboard", {}), "leaderboard")
    assert board["entries"] and board["entries"][0]["submission_id"] == sid, board
    expect_ok(await call(session, log, "task_card", {}), "task_card (remote)")
    expect_ok(await call(session, log, "explain_policy", {}), "explain_policy (remote)")
    expect_ok(await call(session, log, "list_methods", {}), "list_methods (remote)")
    # The token's quota (one a day) is spent: refused, and the server serves on.
    expect_error(await call(session, log, "submit", {"wasm": cfg["wasm"]}),
                 ["quota_exceeded"], "a token without quota")
    expect_error(await call(session, log, "status", {"id": "no-such-id"}),
                 ["not_found"], "unknown submission")
    expect_error(await call(session, log, "evaluate", {"wasm": cfg["wasm"], "task": "nope"}),
                 ["bad_request", "unknown_task", "quota_exceeded"], "unknown task (remote)")
    new = expect_ok(await call(session, log, "new_strategy",
                               {"name": "remote-py", "parent": cfg["parent"], "lang": "python",
                                "from": "python-vanilla"}), "new_strategy (python)")
    assert new["strategy_file"].endswith("remote_py.py"), new
    expect_error(await call(session, log, "build_strategy", {"path": "/nonexistent/dir"}),
                 ["not_a_project"], "build of a missing directory")
    await unknown_tool(session)
    await check_tools(session)


async def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cfg = json.load(f)
    log = Log(cfg["log"])
    params = StdioServerParameters(command=cfg["w2s"], args=["mcp", *cfg["args"]], cwd=cfg["cwd"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name == "w2s", init.server_info
            assert init.capabilities.tools is not None
            await {"local": local, "remote": remote}[cfg["mode"]](session, cfg, log)
    print(f"mcp driver: {cfg['mode']} scenario passed")


if __name__ == "__main__":
    asyncio.run(main())
