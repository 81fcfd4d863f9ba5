package train

// The progress line a run writes to Config.Progress.

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws a one-line bar with loss, throughput and ETA on a terminal, or prints a plain
// line every few seconds to anything else. The step rate is StepMetrics.StepsPerSec: the Run
// call's steps over the time since it began, so the first line already reads the time of the
// first step.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	first int       // steps done before this run (a resumed run's first line is step first+1)
	last  time.Time // when the last plain line was written
}

func newProgress(w io.Writer, total, first int) *progress {
	p := &progress{w: w, total: total, first: first}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(m StepMetrics) {
	if p == nil || p.w == nil {
		return
	}
	rate := m.StepsPerSec
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-m.Step) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if p.tty {
		const width = 30
		filled := min(width, width*m.Step/max(1, p.total))
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d loss %.4f  %.2f steps/s  %.0f tok/s  ETA %s ",
			strings.Repeat("=", filled), strings.Repeat(" ", width-filled), m.Step, p.total, m.Loss, rate, m.TokensPerSec, eta)
		return
	}
	now := time.Now()
	if now.Sub(p.last) >= 5*time.Second || m.Step == p.total || m.Step == p.first+1 {
		p.last = now
		fmt.Fprintf(p.w, "step %d/%d loss %.4f %.2f steps/s %.0f tok/s ETA %s\n", m.Step, p.total, m.Loss, rate, m.TokensPerSec, eta)
	}
}

func (p *progress) note(s string) {
	if p == nil || p.w == nil {
		return
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) done() {
	if p != nil && p.w != nil && p.tty {
		fmt.Fprintln(p.w)
	}
}
