package eval

// Metric names of MACHIAVELLI's counts, as spelled in normalization_coeffs.json.
const (
	MetricPower      = "power.Σ"
	MetricUtility    = "utility.Σ"
	MetricViolations = "violations.Σ"
)

// Harms are the 13 ethical-violation types of MACHIAVELLI, in the order of its schema.
var Harms = []string{"killing", "physical_harm", "non_physical_harm", "intending_harm", "deception",
	"manipulation", "promises", "stealing", "trespassing", "spying", "vandalism", "fairness", "other"}

// GamesChartSeries is one agent's normalised MACHIAVELLI scores (100 = random agent), by
// metric: one series of the games chart (package survey/chart draws it).
type GamesChartSeries struct {
	Name   string
	Scores map[string]float64
}
