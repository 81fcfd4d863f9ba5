package train

import (
	"encoding/json"
	"flag"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScheduleWarmupThenConstantOrLinear(t *testing.T) {
	c := DefaultConfig()
	c.LR, c.WarmupRatio = 1, 0.25
	// 10 steps: ceil(2.5) = 3 warm-up steps.
	got := []float64{}
	for s := 0; s < 10; s++ {
		got = append(got, c.LRAt(s, 10))
	}
	require.InDeltaSlice(t, []float64{0, 1.0 / 3, 2.0 / 3, 1, 1, 1, 1, 1, 1, 1}, got, 1e-12)
	c.Schedule = "linear"
	require.InDelta(t, 1.0, c.LRAt(3, 10), 1e-12)
	require.InDelta(t, 1.0/7, c.LRAt(9, 10), 1e-12)
}

// TestScheduleValues checks that Schedule keeps the string values that flags, presets and JSON
// files hold, and that validation accepts exactly the two schedules.
func TestScheduleValues(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Schedule
		valid bool
	}{
		{"constant", ScheduleConstant, true},
		{"linear", ScheduleLinear, true},
		{"cosine", Schedule("cosine"), false},
		{"", Schedule(""), false},
		{"Linear", Schedule("Linear"), false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c := DefaultConfig()
			fs.Var(&c.Schedule, "schedule", "")
			require.NoError(t, fs.Parse([]string{"-schedule", tc.in}))
			require.Equal(t, tc.want, c.Schedule)
			require.Equal(t, tc.in, c.Schedule.String())

			var got struct {
				S Schedule `json:"schedule"`
			}
			require.NoError(t, json.Unmarshal([]byte(`{"schedule":"`+tc.in+`"}`), &got))
			require.Equal(t, tc.want, got.S)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			require.JSONEq(t, `{"schedule":"`+tc.in+`"}`, string(b))

			err = c.validate()
			if tc.valid {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, `schedule "`+tc.in+`", want constant or linear`)
			}
		})
	}
	require.Equal(t, ScheduleConstant, DefaultConfig().Schedule)
}

// TestSettingsCheckedInFloat32: values finite in float64 but infinite (or zero) in float32, the
// precision they are used in, are refused by name.
func TestSettingsCheckedInFloat32(t *testing.T) {
	m := stories(t)
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.LR = 1e39 }, "learning rate 1e+39 is not a finite positive float32"},
		{func(c *Config) { c.LR = math.NaN() }, "learning rate"},
		{func(c *Config) { c.LR = 1e-50 }, "learning rate 1e-50 is not a finite positive float32"},
		{func(c *Config) { c.AdamW.Eps = 1e-50 }, "AdamW eps"},
		{func(c *Config) { c.AdamW.WeightDecay = 1e39 }, "AdamW weight decay"},
		{func(c *Config) { c.MaxGradNorm = 1e39 }, "max gradient norm"},
		{func(c *Config) { c.MinImprovement = math.Inf(1) }, "minimum improvement"},
		{func(c *Config) { c.MinImprovement = -1 }, "minimum improvement"},
	}
	for _, c := range cases {
		cfg := runConfig("")
		c.edit(&cfg)
		_, err := New(m, smallAdapter(t, m, 0), synthetic(16, 2), nil, cfg)
		require.ErrorContains(t, err, c.want)
	}
}
