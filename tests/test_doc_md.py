"""The source YAML in a DAG's docs stays inside its code block, whatever the file contains."""

from __future__ import annotations

import markdown_it
from airflow_taskspec import ir
from airflow_taskspec.build import code_block, doc_md, summary


def _rendered_code(markdown: str) -> list[str]:
    return [t.content for t in markdown_it.MarkdownIt().parse(markdown) if t.type == "fence"]


def test_a_backtick_fence_in_the_yaml_cannot_close_the_block() -> None:
    yaml_text = "name: p  # see ```\ntasks:\n  - name: t\n    executor: !custom\n      command: |\n        echo '````'\n"
    rendered = _rendered_code(code_block(yaml_text, "yaml"))
    assert rendered == [yaml_text]


def test_doc_md_shows_the_whole_source_as_one_code_block() -> None:
    source = "# ```\n# # Injected heading\nname: x\n"
    wf = ir.Workflow(dag_id="x.t", title="x / t", origin=ir.Origin("f.yaml"), source_text=source,
                     graph=ir.Sequence(()))
    tokens = markdown_it.MarkdownIt().parse(doc_md(wf))
    assert [t.content for t in tokens if t.type == "fence"] == [source]
    assert not [t for t in tokens if t.type == "heading_open" and t.markup == "#"]


def test_the_dag_description_is_the_first_paragraph_cut_at_a_word() -> None:
    assert summary("Runs its tasks in a loop.\n\nEach task's `args` are params ...") == "Runs its tasks in a loop."
    assert summary("AME task `t`\nof project `p`") == "AME task `t` of project `p`"  # one line in the UI
    long = "word " * 60
    cut = summary(long, limit=40)
    assert cut == "word word word word word word word word…" and len(cut) <= 40
    assert summary("abcdef ghijkl", limit=10) == "abcdef…"  # a word cut in two is dropped
    assert summary("") == ""

