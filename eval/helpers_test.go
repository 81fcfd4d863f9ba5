package eval

import "math"

func logOf(p float64) float64 { return math.Log(p) }
