"""The report, assembled from the units' result files alone (``assemble``): tables and tests (``tables``),
curves (``curves``, plotted by ``curve_plots``), the headline and answer (``headline``), report.md's text
sections (``markdown``) and the files written (``write``). Never imports the runner (``study/run``): a report
needs no model and no training code."""
