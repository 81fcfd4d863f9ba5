//go:build !unix

package main

// peakRSSMiB is 0 where getrusage is not available.
func peakRSSMiB() float64 { return 0 }
