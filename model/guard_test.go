package model

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// blockingAdapter adds nothing, but its first AddDelta call signals entered and waits for
// release: a forward pass held in flight. calls counts every AddDelta call.
type blockingAdapter struct {
	entered, release chan struct{}
	once             sync.Once
	calls            atomic.Int64
}

func newBlockingAdapter() *blockingAdapter {
	return &blockingAdapter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (a *blockingAdapter) AddDelta(layer int, p Proj, y, x []float32, m int) {
	a.once.Do(func() {
		close(a.entered)
		<-a.release
	})
	a.calls.Add(1)
}

// waitForWriter returns once a Close or Exclusive call on m waits for the model's passes: a
// waiting writer makes TryRLock fail.
func waitForWriter(m *Model) {
	for m.mu.TryRLock() {
		m.mu.RUnlock()
		runtime.Gosched()
	}
}

func TestForwardAfterCloseIsAnError(t *testing.T) {
	ctx := context.Background()
	m := loadModel(t, "../testdata/llama-tiny/model")
	b, err := NewBatch([][]int{{1, 5, 9}}, 0)
	require.NoError(t, err)
	_, err = m.Forward(ctx, b, Options{})
	require.NoError(t, err)
	require.NoError(t, m.Close())

	// Before the guard, these read the unmapped weights and killed the process (SIGSEGV).
	_, err = m.Forward(ctx, b, Options{})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorContains(t, err, "forward")
	_, err = m.Generate(ctx, []int{1, 5}, 3, GenerateOptions{})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, m.CheckFinite(), ErrClosed)
	called := false
	require.ErrorIs(t, m.Exclusive(func() error { called = true; return nil }), ErrClosed)
	require.False(t, called, "Exclusive ran its function on a closed model")
	require.NoError(t, m.Close(), "a second Close")
}

// Close during a forward pass waits for it: the pass completes with the logits it would have
// without the Close, then the model is closed.
func TestCloseWaitsForPassInFlight(t *testing.T) {
	ctx := context.Background()
	m := loadModel(t, "../testdata/llama-tiny/model")
	b, err := NewBatch([][]int{{1, 5, 9, 14}, {2, 7}}, 0)
	require.NoError(t, err)
	want, err := m.Forward(ctx, b, Options{})
	require.NoError(t, err)

	ad := newBlockingAdapter()
	type result struct {
		out *Output
		err error
	}
	done := make(chan result)
	go func() {
		out, err := m.Forward(ctx, b, Options{Adapter: ad})
		done <- result{out, err}
	}()
	<-ad.entered
	closed := make(chan error)
	go func() { closed <- m.Close() }()
	waitForWriter(m)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a forward pass was in flight", err)
	default:
	}
	close(ad.release)
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, want.Logits, r.out.Logits)
	require.NoError(t, <-closed)
	_, err = m.Forward(ctx, b, Options{})
	require.ErrorIs(t, err, ErrClosed)
}

// Exclusive waits for the passes in flight: its function runs after every projection of the
// pass has been computed.
func TestExclusiveWaitsForPasses(t *testing.T) {
	ctx := context.Background()
	m := loadModel(t, "../testdata/stories260k")
	b, err := NewBatch([][]int{{1, 5, 9}}, 0)
	require.NoError(t, err)
	base, err := m.Forward(ctx, b, Options{})
	require.NoError(t, err)

	ad := newBlockingAdapter()
	done := make(chan *Output)
	go func() {
		out, err := m.Forward(ctx, b, Options{Adapter: ad})
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	<-ad.entered
	var seen int64
	excl := make(chan error)
	w := m.Layers[0].Proj[ProjQ]
	saved := w.F32[0]
	go func() {
		excl <- m.Exclusive(func() error {
			seen = ad.calls.Load()
			w.F32[0] += 1 // a change of the weights, which must not race with the pass (-race)
			return errors.New("from fn")
		})
	}()
	waitForWriter(m)
	close(ad.release)
	out := <-done
	require.ErrorContains(t, <-excl, "from fn", "Exclusive returns its function's error")
	require.Equal(t, int64(m.Config.NumLayers)*int64(NumProj), seen, "Exclusive's function ran before the pass had computed every projection")
	require.Equal(t, base.Logits, out.Logits, "the pass in flight saw the change")
	require.NoError(t, m.Exclusive(func() error { w.F32[0] = saved; return nil }))
}

// shapedAdapter is a LowRankAdapter whose updates of q_proj in layer 0 have the given sizes.
type shapedAdapter struct {
	rank, lenA, lenB int
	checkErr         error
}

func (shapedAdapter) AddDelta(int, Proj, []float32, []float32, int) {}
func (a shapedAdapter) LowRank(layer int, p Proj) ([]float32, []float32, int, float32, bool) {
	if layer != 0 || p != ProjQ {
		return nil, nil, 0, 0, false
	}
	return make([]float32, a.lenA), make([]float32, a.lenB), a.rank, 1, true
}

type checkedAdapter struct {
	shapedAdapter
}

func (a checkedAdapter) CheckModel(*Config) error { return a.checkErr }

// An adapter whose matrices do not fit the model is an error naming the projection and the
// shapes, not a panic in the matrix product.
func TestForwardRejectsAdapterOfAnotherShape(t *testing.T) {
	ctx := context.Background()
	m := loadModel(t, "../testdata/stories260k")
	s := m.Config.ProjShape(ProjQ)
	out, in := s[0], s[1]
	b, err := NewBatch([][]int{{1, 5, 9}}, 0)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		ad   Adapter
		want string // "" for success
	}{
		{"fits", shapedAdapter{rank: 4, lenA: 4 * in, lenB: out * 4}, ""},
		{"narrow A", shapedAdapter{rank: 4, lenA: 4 * (in / 2), lenB: out * 4}, "layer 0 q_proj: rank 4"},
		{"short B", shapedAdapter{rank: 4, lenA: 4 * in, lenB: out*4 - 1}, "B [64,4]"},
		{"rank 0", shapedAdapter{rank: 0, lenA: 0, lenB: 0}, "rank 0"},
		{"checker refuses", checkedAdapter{shapedAdapter{rank: 4, lenA: 4 * in, lenB: out * 4, checkErr: errors.New("made for 7 layers")}}, "made for 7 layers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Forward(ctx, b, Options{Adapter: tc.ad})
			if tc.want == "" {
				require.NoError(t, err)
				require.NoError(t, m.CheckAdapter(tc.ad))
				return
			}
			require.ErrorContains(t, err, "adapter does not fit the model")
			require.ErrorContains(t, err, tc.want)
			require.Error(t, m.CheckAdapter(tc.ad))
			_, err = m.Generate(ctx, []int{1, 5}, 2, GenerateOptions{Adapter: tc.ad})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// LoadFS reads the same checkpoint as Load, from any fs.FS (single file and sharded).
func TestLoadFS(t *testing.T) {
	ctx := context.Background()
	mapFS := fstest.MapFS{}
	for _, name := range []string{"config.json", "model.safetensors"} {
		raw, err := os.ReadFile(filepath.Join("../testdata/stories260k", name))
		require.NoError(t, err)
		mapFS["ckpt/"+name] = &fstest.MapFile{Data: raw}
	}
	for _, tc := range []struct {
		name, dir string
		load      func() (*Model, error)
	}{
		{"map", "../testdata/stories260k", func() (*Model, error) { return LoadFS(mapFS, "ckpt") }},
		{"sharded", "../testdata/qwen3-sharded-rslora/model", func() (*Model, error) {
			return LoadFS(os.DirFS("../testdata/qwen3-sharded-rslora"), "model")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := loadModel(t, tc.dir)
			got, err := tc.load()
			require.NoError(t, err)
			defer got.Close()
			require.Equal(t, want.Config, got.Config)
			b, err := NewBatch([][]int{{1, 5, 9, 3}}, 0)
			require.NoError(t, err)
			wo, err := want.Forward(ctx, b, Options{})
			require.NoError(t, err)
			go_, err := got.Forward(ctx, b, Options{})
			require.NoError(t, err)
			require.Equal(t, wo.Logits, go_.Logits)
		})
	}
	_, err := LoadFS(mapFS, "missing")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "missing/config.json")
	delete(mapFS, "ckpt/model.safetensors")
	_, err = LoadFS(mapFS, "ckpt")
	require.ErrorContains(t, err, "ckpt/model.safetensors")
}

func TestParseGenerationConfig(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       *GenerationConfig
		err        string
	}{
		{"defaults", `{}`, &GenerationConfig{BOSTokenID: -1, PadTokenID: -1, Temperature: 1, TopK: 50, TopP: 1}, ""},
		{"qwen3", `{"bos_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643], "pad_token_id": 151643,
			"temperature": 0.6, "top_k": 20, "top_p": 0.95, "transformers_version": "4.51.0"}`,
			&GenerationConfig{BOSTokenID: 151643, EOSTokenIDs: []int{151645, 151643}, PadTokenID: 151643, DoSample: true,
				Temperature: 0.6, TopK: 20, TopP: 0.95}, ""},
		{"one eos", `{"eos_token_id": 2, "max_new_tokens": 64}`,
			&GenerationConfig{BOSTokenID: -1, EOSTokenIDs: []int{2}, PadTokenID: -1, Temperature: 1, TopK: 50, TopP: 1, MaxNewTokens: 64}, ""},
		{"bad eos", `{"eos_token_id": "x"}`, nil, "eos_token_id"},
		{"negative eos", `{"eos_token_id": [-3]}`, nil, "eos_token_id"},
		{"bad temperature", `{"temperature": -1}`, nil, "temperature"},
		{"bad top_p", `{"top_p": 0}`, nil, "top_p"},
		{"not json", `{`, nil, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGenerationConfig([]byte(tc.json))
			if requireErr(t, err, tc.err) {
				require.Equal(t, tc.want, g)
			}
		})
	}
}
