package model

import (
	"slices"
	"testing"
)

// TestDecoderSteps checks each architecture's layer: Llama's, and Qwen3's with the q/k norm
// after the projections; the list returned is the caller's own.
func TestDecoderSteps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qkNorm bool
		want   []DecoderStep
	}{
		{"llama", false, []DecoderStep{StepInputNorm, StepQKV, StepRope, StepAttention, StepAttnOut, StepPostNorm, StepGateUp, StepSwiGLU, StepMLPOut}},
		{"qwen3", true, []DecoderStep{StepInputNorm, StepQKV, StepQKNorm, StepRope, StepAttention, StepAttnOut, StepPostNorm, StepGateUp, StepSwiGLU, StepMLPOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{QKNorm: tc.qkNorm}
			got := c.DecoderSteps()
			if !slices.Equal(got, tc.want) {
				t.Fatalf("DecoderSteps = %v, want %v", got, tc.want)
			}
			got[0] = StepMLPOut
			if c.DecoderSteps()[0] != StepInputNorm {
				t.Errorf("changing the returned steps changed the config's")
			}
		})
	}
	if s := StepQKNorm.String(); s != "qk_norm" {
		t.Errorf("StepQKNorm.String() = %q", s)
	}
	if s := DecoderStep(200).String(); s != "step(200)" {
		t.Errorf("DecoderStep(200).String() = %q", s)
	}
}
