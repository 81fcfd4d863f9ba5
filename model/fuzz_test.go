package model

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig: no config.json makes ParseConfig panic, and every accepted config is within
// the bounds the loader relies on.
func FuzzLoadConfig(f *testing.F) {
	for _, p := range []string{"../testdata/stories260k/config.json", "../testdata/llama-tiny/model/config.json",
		"../testdata/qwen3-tiny/model/config.json", "../testdata/qwen3-sharded-rslora/model/config.json"} {
		if raw, err := os.ReadFile(filepath.FromSlash(p)); err == nil {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if _, _, ok := c.TensorBytes(); !ok {
			t.Fatalf("accepted config out of bounds: %+v", c)
		}
		if !(c.RMSNormEps > 0) || !(c.RopeTheta > 1) {
			t.Fatalf("accepted config with eps %v, rope_theta %v", c.RMSNormEps, c.RopeTheta)
		}
	})
}
