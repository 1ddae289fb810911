"""Reports from experiment folders: reader (JSON/CSV only), analyses, plots, Markdown + self-contained HTML."""

from g4r_tune.report.generate import ReportOptions, ReportResult, generate_report

__all__ = ["ReportOptions", "ReportResult", "generate_report"]
