package lora

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/valora-go/valora/internal/atomicfile"
	"github.com/valora-go/valora/internal/stfile"
	"github.com/valora-go/valora/model"
)

// File names PEFT uses.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// peftConfig is the part of PEFT's LoraConfig that valora reads and writes. The fields of the
// variants valora does not implement are read only to refuse an adapter that sets them
// (parseConfig).
type peftConfig struct {
	PeftType            string          `json:"peft_type"`               // "LORA" only
	TaskType            string          `json:"task_type"`               // "CAUSAL_LM" when written
	BaseModelNameOrPath string          `json:"base_model_name_or_path"` // Adapter.BaseModel
	R                   int             `json:"r"`                       // Config.Rank
	LoraAlpha           float64         `json:"lora_alpha"`              // Config.Alpha
	LoraDropout         float64         `json:"lora_dropout"`            // Config.Dropout
	TargetModules       json.RawMessage `json:"target_modules"`          // a list of projection names, or "all-linear"
	LayersToTransform   json.RawMessage `json:"layers_to_transform"`     // Config.Layers: null, one index or a list
	UseRSLoRA           bool            `json:"use_rslora"`              // Config.RSLoRA: scale alpha/√r, not alpha/r
	UseDoRA             bool            `json:"use_dora"`                // refused when true
	Bias                string          `json:"bias"`                    // refused unless "none"
	LoraBias            bool            `json:"lora_bias"`               // refused when true
	FanInFanOut         bool            `json:"fan_in_fan_out"`          // refused when true
	ModulesToSave       []string        `json:"modules_to_save"`         // refused when not empty
	RankPattern         map[string]any  `json:"rank_pattern"`            // refused when not empty
	AlphaPattern        map[string]any  `json:"alpha_pattern"`           // refused when not empty
	InitLoraWeights     any             `json:"init_lora_weights"`       // true when written; not read
	InferenceMode       bool            `json:"inference_mode"`          // true when written; not read
	TrainableTokenIdx   json.RawMessage `json:"trainable_token_indices"` // refused when set
	LayerReplication    json.RawMessage `json:"layer_replication"`       // refused when set
	TargetParameters    json.RawMessage `json:"target_parameters"`       // refused when set
	Revision            *string         `json:"revision"`                // null when written; not read
}

// Save writes the adapter in PEFT's format into dir (created if needed): adapter_config.json
// (MarshalConfig) and adapter_model.safetensors (WriteWeights). Each file is written
// atomically. A merged adapter is saved all the same (its matrices are unchanged).
func (a *Adapter) Save(dir string) error {
	if a == nil {
		return fmt.Errorf("lora: save %s: nil adapter", dir)
	}
	raw, err := a.MarshalConfig()
	if err != nil {
		return fmt.Errorf("lora: save %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lora: save %s: %w", dir, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, WeightsFile), a.WriteWeights); err != nil {
		return fmt.Errorf("lora: save: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), raw); err != nil {
		return fmt.Errorf("lora: save: %w", err)
	}
	return nil
}

// WriteWeights writes the contents of adapter_model.safetensors to w: every pair's A and B as
// float32 under PEFT's key names, with `format: pt` metadata. With MarshalConfig it stores an
// adapter anywhere (a database, an object store); LoadBytes reads it back.
func (a *Adapter) WriteWeights(w io.Writer) error {
	if a == nil {
		return fmt.Errorf("lora: write weights: nil adapter")
	}
	var entries []stfile.Entry
	a.Each(func(l int, p model.Proj, pr *Pair) {
		entries = append(entries,
			stfile.Entry{Name: key(l, p, "A"), Shape: []int{pr.Rank, pr.In}, F32: pr.A},
			stfile.Entry{Name: key(l, p, "B"), Shape: []int{pr.Out, pr.Rank}, F32: pr.B})
	})
	if err := stfile.Encode(w, WeightsFile, entries, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("lora: write weights: %w", err)
	}
	return nil
}

// MarshalConfig returns the contents of adapter_config.json: PEFT's LoraConfig for the
// adapter's Config, with BaseModel as base_model_name_or_path (indented, newline-terminated).
func (a *Adapter) MarshalConfig() ([]byte, error) {
	if a == nil {
		return nil, fmt.Errorf("lora: marshal config: nil adapter")
	}
	targets := make([]string, len(a.Config.Targets))
	for i, p := range a.Config.Targets {
		targets[i] = p.String()
	}
	sort.Strings(targets)
	tm, _ := json.Marshal(targets)
	layers := json.RawMessage("null")
	if a.Config.Layers != nil {
		ls := slices.Sorted(slices.Values(a.Config.Layers))
		layers, _ = json.Marshal(ls)
	}
	cfg := peftConfig{
		PeftType: "LORA", TaskType: "CAUSAL_LM", BaseModelNameOrPath: a.BaseModel,
		R: a.Config.Rank, LoraAlpha: a.Config.Alpha, LoraDropout: a.Config.Dropout,
		TargetModules: tm, LayersToTransform: layers, UseRSLoRA: a.Config.RSLoRA, Bias: "none",
		RankPattern: map[string]any{}, AlphaPattern: map[string]any{}, InitLoraWeights: true,
		InferenceMode: true, TrainableTokenIdx: json.RawMessage("null"),
		LayerReplication: json.RawMessage("null"), TargetParameters: json.RawMessage("null"),
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("lora: marshal config: %w", err)
	}
	return append(raw, '\n'), nil
}

func key(l int, p model.Proj, ab string) string {
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", l, p.Module(), ab)
}

var keyRE = regexp.MustCompile(`^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$`)

// ReadConfig reads a PEFT adapter_config.json into a Config and the base model's name
// (base_model_name_or_path). PEFT features valora does not implement are refused by name.
func ReadConfig(path string, mc *model.Config) (Config, string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, "", fmt.Errorf("lora: %w", err)
	}
	return parseConfig(path, raw, mc)
}

// ParseConfig is ReadConfig on the contents of adapter_config.json.
func ParseConfig(data []byte, mc *model.Config) (Config, string, error) {
	return parseConfig(ConfigFile, data, mc)
}

// parseConfig parses adapter_config.json bytes; path names them in errors.
func parseConfig(path string, raw []byte, mc *model.Config) (Config, string, error) {
	var pc peftConfig
	if err := json.Unmarshal(raw, &pc); err != nil {
		return Config{}, "", fmt.Errorf("lora: %s: invalid JSON: %w", path, err)
	}
	fail := func(format string, args ...any) (Config, string, error) {
		return Config{}, "", fmt.Errorf("lora: %s: %s", path, fmt.Sprintf(format, args...))
	}
	switch {
	case pc.PeftType != "LORA":
		return fail("peft_type %q is not supported (only LORA)", pc.PeftType)
	case pc.UseDoRA:
		return fail("use_dora: DoRA adapters are not supported")
	case pc.Bias != "" && pc.Bias != "none":
		return fail("bias %q is not supported (only none)", pc.Bias)
	case pc.LoraBias:
		return fail("lora_bias: adapter biases are not supported")
	case pc.FanInFanOut:
		return fail("fan_in_fan_out: true is not supported")
	case len(pc.ModulesToSave) > 0:
		return fail("modules_to_save %v is not supported", pc.ModulesToSave)
	case len(pc.RankPattern) > 0:
		return fail("rank_pattern is not supported (one rank for every module)")
	case len(pc.AlphaPattern) > 0:
		return fail("alpha_pattern is not supported (one alpha for every module)")
	case isSet(pc.TrainableTokenIdx):
		return fail("trainable_token_indices (embedding adapters) is not supported")
	case isSet(pc.LayerReplication):
		return fail("layer_replication is not supported")
	case isSet(pc.TargetParameters):
		return fail("target_parameters is not supported")
	}
	cfg := Config{Rank: pc.R, Alpha: pc.LoraAlpha, Dropout: pc.LoraDropout, RSLoRA: pc.UseRSLoRA}
	var names []string
	var one string
	if err := json.Unmarshal(pc.TargetModules, &names); err != nil {
		if err := json.Unmarshal(pc.TargetModules, &one); err != nil {
			return fail("target_modules: want a list of module names")
		}
		if one != "all-linear" {
			return fail("target_modules %q: a regular expression is not supported; list the module names", one)
		}
		names = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	}
	for _, n := range names {
		p, err := model.ParseProj(n)
		if err != nil {
			return fail("target_modules: %v (embedding and LM-head adapters are not supported)", err)
		}
		if !slices.Contains(cfg.Targets, p) {
			cfg.Targets = append(cfg.Targets, p)
		}
	}
	slices.Sort(cfg.Targets)
	if isSet(pc.LayersToTransform) {
		var ls []int
		var l int
		if err := json.Unmarshal(pc.LayersToTransform, &ls); err != nil {
			if err := json.Unmarshal(pc.LayersToTransform, &l); err != nil {
				return fail("layers_to_transform: want an integer or a list of integers")
			}
			ls = []int{l}
		}
		cfg.Layers = ls
	}
	if err := cfg.Validate(mc); err != nil {
		return fail("%v", err)
	}
	// The scale is used in float32: lora_alpha / r (or / sqrt(r)) must be finite and non-zero there.
	if s := float32(cfg.Scale()); s == 0 || math.IsInf(float64(s), 0) || math.IsNaN(float64(s)) {
		return fail("lora_alpha %v with r %d gives the scale %v, not a finite non-zero float32", cfg.Alpha, cfg.Rank, cfg.Scale())
	}
	return cfg, pc.BaseModelNameOrPath, nil
}

func isSet(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// Load reads a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) from dir
// for m; the weights file is memory-mapped while it is read. Every matrix the configuration
// implies must be present with the right shape; any other tensor (embedding adapters, biases,
// DoRA magnitudes...) is an error that names it.
func Load(dir string, m *model.Model) (*Adapter, error) {
	if m == nil {
		return nil, fmt.Errorf("lora: load %s: nil model", dir)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	cfg, base, err := ReadConfig(cfgPath, &m.Config)
	if err != nil {
		return nil, err
	}
	f, err := stfile.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	defer f.Close()
	return fromFile(cfgPath, cfg, base, f, m)
}

// LoadFS is Load from the directory dir of fsys ("." for its root), for adapters in an
// embed.FS, an archive or any other file system; the weights file is read into memory.
func LoadFS(fsys fs.FS, dir string, m *model.Model) (*Adapter, error) {
	if m == nil {
		return nil, fmt.Errorf("lora: load %s: nil model", dir)
	}
	cfgPath, wPath := path.Join(dir, ConfigFile), path.Join(dir, WeightsFile)
	raw, err := fs.ReadFile(fsys, cfgPath)
	if err != nil {
		return nil, fmt.Errorf("lora: %s: %w", cfgPath, err)
	}
	cfg, base, err := parseConfig(cfgPath, raw, &m.Config)
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(fsys, wPath)
	if err != nil {
		return nil, fmt.Errorf("lora: %s: %w", wPath, err)
	}
	f, err := stfile.Parse(wPath, data)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	return fromFile(cfgPath, cfg, base, f, m)
}

// LoadBytes is Load from the contents of adapter_config.json and adapter_model.safetensors
// (as MarshalConfig and WriteWeights produce them), for adapters kept in a database or an
// object store. The adapter copies what it needs: the slices may be reused afterwards.
func LoadBytes(configJSON, weights []byte, m *model.Model) (*Adapter, error) {
	if m == nil {
		return nil, fmt.Errorf("lora: load: nil model")
	}
	cfg, base, err := ParseConfig(configJSON, &m.Config)
	if err != nil {
		return nil, err
	}
	f, err := stfile.Parse(WeightsFile, weights)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	return fromFile(ConfigFile, cfg, base, f, m)
}

// fromFile builds the adapter of configuration cfg (read from cfgPath) from the tensors of f.
func fromFile(cfgPath string, cfg Config, base string, f *stfile.File, m *model.Model) (*Adapter, error) {
	wPath := f.Path
	// The configuration's sizes are checked against what the file holds before anything is
	// allocated: a config with r 1e9 must not allocate its matrices first.
	need, ok := cfg.elements(&m.Config)
	var held int64
	for _, n := range f.Names() {
		t, _ := f.Tensor(n)
		held += int64(len(t.Data))
	}
	if !ok || need > held {
		return nil, fmt.Errorf("lora: %s: r %d with %d target modules implies %s float32 values, but %s holds only %d bytes of tensor data",
			cfgPath, cfg.Rank, len(cfg.Targets), elemString(need, ok), wPath, held)
	}
	a, err := newEmpty(&m.Config, cfg)
	if err != nil {
		return nil, err
	}
	a.BaseModel = base
	seen := map[string]bool{}
	var problems []string
	for _, n := range f.Names() {
		mt := keyRE.FindStringSubmatch(n)
		if mt == nil {
			problems = append(problems, fmt.Sprintf("unexpected tensor %s", n))
			continue
		}
		l, _ := strconv.Atoi(mt[1])
		p, err := model.ParseProj(mt[3])
		if err != nil || p.Module() != mt[2]+"."+mt[3] {
			problems = append(problems, fmt.Sprintf("unexpected tensor %s", n))
			continue
		}
		pr := a.Pair(l, p)
		if pr == nil {
			problems = append(problems, fmt.Sprintf("tensor %s is outside the configured layers and target_modules", n))
			continue
		}
		seen[fmt.Sprintf("%d/%d/%s", l, p, mt[4])] = true
		t, _ := f.Tensor(n)
		dst, shape := pr.A, []int{pr.Rank, pr.In}
		if mt[4] == "B" {
			dst, shape = pr.B, []int{pr.Out, pr.Rank}
		}
		if !slices.Equal(t.Shape, shape) {
			problems = append(problems, fmt.Sprintf("tensor %s has shape %v, want %v", n, t.Shape, shape))
			continue
		}
		v, err := t.Float32()
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if i := firstNonFinite(v); i >= 0 {
			problems = append(problems, fmt.Sprintf("tensor %s holds a non-finite value (%v at index %d)", n, v[i], i))
			continue
		}
		copy(dst, v)
	}
	a.Each(func(l int, p model.Proj, _ *Pair) {
		for _, ab := range []string{"A", "B"} {
			if !seen[fmt.Sprintf("%d/%d/%s", l, p, ab)] {
				problems = append(problems, fmt.Sprintf("missing tensor %s", key(l, p, ab)))
			}
		}
	})
	if len(problems) > 0 {
		if len(problems) > 12 {
			problems = append(problems[:12], fmt.Sprintf("and %d more", len(problems)-12))
		}
		return nil, fmt.Errorf("lora: %s: %w", wPath, errors.New(strings.Join(problems, "; ")))
	}
	return a, nil
}

// elements is the number of values the configuration implies for mc (A and B of every targeted
// projection), computed without overflow; ok is false when it does not fit in an int64.
func (c Config) elements(mc *model.Config) (n int64, ok bool) {
	layers := int64(mc.NumLayers)
	if c.Layers != nil {
		layers = int64(len(c.Layers))
	}
	for _, p := range c.Targets {
		if p >= model.NumProj {
			continue
		}
		s := mc.ProjShape(p)
		per, ok1 := mulNonNeg(int64(c.Rank), int64(s[0])+int64(s[1]))
		all, ok2 := mulNonNeg(per, layers)
		if !ok1 || !ok2 || n > math.MaxInt64-all {
			return 0, false
		}
		n += all
	}
	return n, true
}

func mulNonNeg(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	return a * b, true
}

func elemString(n int64, ok bool) string {
	if !ok {
		return "more than 2^63"
	}
	return strconv.FormatInt(n, 10)
}

// firstNonFinite is the index of the first NaN or infinity in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if x-x != 0 {
			return i
		}
	}
	return -1
}
