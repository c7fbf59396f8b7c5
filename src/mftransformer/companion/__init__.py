"""The book's machinery: parameter sets, the execution pipeline, figures and their provenance,
the generated pages, the command line. It may import the solver and the chapters; the solver
never imports it."""
