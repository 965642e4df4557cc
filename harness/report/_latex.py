"""LaTeX for report tables: escaping and one booktabs `table` environment with caption and label.

    tex = latex_table(caption="Table 3: ...", label="tab:table3", colspec="lrrr",
                      header=["Method & Ours & Paper & $\\Delta$"], rows=[["FreeDARTS-D", "$93.62$", ...]],
                      notes=["ours = mean ± std over seeds."])

Every report table is written this way (`\\usepackage{booktabs}` in the preamble), so a paper can
`\\input` any `.tex` file of a report as is. Cells are LaTeX already: escape plain text with
`latex_escape` (it also maps the report's unicode: ±, ×, †, ‡, –, Δ, ...).
"""

from __future__ import annotations

_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "|": r"\textbar{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "—": "--", "–": "--", "…": r"\ldots{}", "×": r"$\times$", "±": r"$\pm$",
    "†": r"\textsuperscript{\dag}", "‡": r"\textsuperscript{\ddag}", "Δ": r"$\Delta$", "α": r"$\alpha$",
    "≥": r"$\geq$", "≤": r"$\leq$", "≈": r"$\approx$", "·": r"$\cdot$", "−": "-", "→": r"$\rightarrow$",
    "∈": r"$\in$", "²": r"\textsuperscript{2}",
}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX text: special characters escaped, the report's unicode symbols mapped."""
    return "".join(_ESCAPES.get(ch, ch) for ch in str(text))


def latex_row(cells: list[str]) -> str:
    return " & ".join(cells) + r" \\"


def latex_table(*, caption: str, label: str, colspec: str, header: list[str], rows: list[list[str] | str],
                notes: list[str] = ()) -> str:
    """A floating booktabs table: caption and label on top, the tabular, notes in small type below.

    Args:
        caption: plain text (escaped here).
        label: the `\\label` key, e.g. "tab:table3".
        colspec: tabular column spec, e.g. "lrr".
        header: LaTeX header lines without the trailing `\\\\` (several for grouped columns; a line
            starting with `\\cmidrule` is written as is).
        rows: body rows, each a list of LaTeX cells, or a raw line such as `\\midrule`.
        notes: plain-text notes under the table (escaped here).
    """
    lines = [r"% requires \usepackage{booktabs}; written by harness.report from the Parquet results",
             r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
             r"\small", rf"\begin{{tabular}}{{{colspec}}}", r"\toprule"]
    lines += [h if h.startswith("\\cmidrule") else h + r" \\" for h in header]
    lines.append(r"\midrule")
    lines += [r if isinstance(r, str) else latex_row(r) for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines.append(r"\par\smallskip\footnotesize")
        lines += [latex_escape(n) + r"\par" for n in notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
