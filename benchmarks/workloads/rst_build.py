"""A real third-party workload: docutils turning a large reStructuredText document into HTML.

docutils builds a document tree whose nodes point at their parents (cycles), runs
its transforms over it and writes HTML: the kind of tree-heavy work whose GC cost
made CPython revert the incremental collector in 3.13.0 (the Sphinx regression).
docutils is not a gcscope dependency: `pip install docutils` first. Size:
`RST_SECTIONS` (default 400 sections of paragraphs, lists, a table and literals).
"""

import os

from docutils.core import publish_string

SECTIONS = int(os.environ.get("RST_SECTIONS", "400"))


def document(sections):
    parts = ["=================\nA generated manual\n=================\n\n.. contents::\n"]
    for number in range(sections):
        title = f"Section {number}: *emphasis*, ``literal`` and a link_"
        parts.append(f"{title}\n{'=' * len(title)}\n")
        parts.append(
            "A paragraph with **strong** text, a footnote [#]_ and an inline "
            f"`interpreted text` about item {number}. " * 3 + "\n"
        )
        parts.append("".join(f"- item {i} of list {number}, with *markup*\n" for i in range(8)))
        parts.append(
            "\n+--------+--------+\n| key    | value  |\n+========+========+\n"
            + "".join(f"| k{i:<5} | v{i:<5} |\n+--------+--------+\n" for i in range(4))
        )
        parts.append("\n::\n\n    code line one\n    code line two\n\n")
        parts.append(f".. [#] Footnote of section {number}.\n\n")
    parts.append(".. _link: https://example.invalid/\n")
    return "\n".join(parts)


html = publish_string(
    document(SECTIONS),
    writer_name="html",
    settings_overrides={"report_level": 5, "halt_level": 5, "output_encoding": "unicode"},
)
print(len(html))
