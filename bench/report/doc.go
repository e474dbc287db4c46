// Package report is what `veil bench` writes: a Report of the setting, the
// reference point and one Run per mode and cluster size, with every figure
// the study measured.
//
// WriteDir (out.go) writes it as report.json, report.md with the plots as
// PNG files, and one report.html with the plots embedded, which needs no
// network; WriteText prints its summary. Figures (plots.go) draws the
// plots. Read (readreport.go) reads a report.json back, refusing what is
// not one or what could not be drawn, so that a report can be drawn again
// by a newer veil or with the fault suite's table (package bench/faults)
// put in.
//
// It imports, of the bench, bench/load (the latency, books and pipeline
// figures a run holds) and bench/faults (its table); the study fills a
// Report, the report knows nothing of how.
package report
