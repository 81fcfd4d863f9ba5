package eval

import (
	"fmt"
	"strings"
)

// Helpers of the Markdown renderings of every report of this package.

// fmtNum formats x with an explicit sign and prec decimals.
func fmtNum(x float64, prec int) string {
	return fmt.Sprintf("%+.*f", prec, x)
}

// fmtP formats the p-value of s, marked "(n/a)" when the test is not valid.
func fmtP(s Summary) string {
	if !s.Valid {
		return fmt.Sprintf("%.4g (n/a)", s.P)
	}
	return fmt.Sprintf("%.4g", s.P)
}

// mdEscape makes s safe in a Markdown table cell.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
