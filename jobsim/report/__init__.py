"""Reports: metrics, summaries, figures and HTML pages, computed from histories."""
