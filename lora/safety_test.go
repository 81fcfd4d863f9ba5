package lora

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/model"
)

func fixtureAdapter(t *testing.T, fixture string, m *model.Model) *Adapter {
	t.Helper()
	a, err := Load(filepath.Join("..", "testdata", fixture, "adapter"), m)
	require.NoError(t, err)
	return a
}

// A nil *Adapter in an interface is no adapter: the base model, not a nil dereference.
func TestTypedNilAdapterIsTheBaseModel(t *testing.T) {
	m := loadModel(t, "llama-tiny")
	_, b := goldens(t, "llama-tiny")
	var a *Adapter
	var ad model.Adapter = a
	require.Equal(t, forward(t, m, b, nil), forward(t, m, b, ad))
	want, err := m.Generate(context.Background(), []int{1, 5, 9}, 4, model.GenerateOptions{})
	require.NoError(t, err)
	got, err := m.Generate(context.Background(), []int{1, 5, 9}, 4, model.GenerateOptions{Adapter: ad})
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Nil(t, a.Pair(0, model.ProjQ))
	require.Zero(t, a.NumParams())
	require.False(t, a.Merged())
	require.NoError(t, a.CheckModel(&m.Config))
	require.Error(t, a.Merge(m))
	require.Error(t, a.Save(t.TempDir()))
	require.Error(t, a.WriteWeights(&bytes.Buffer{}))
}

// An adapter made for another model is an error that names the projection and both shapes,
// in a forward pass and in Merge (which leaves the model unchanged), not a panic in the GEMM.
func TestAdapterForAnotherModelIsAnError(t *testing.T) {
	llama, qwen := loadModel(t, "llama-tiny"), loadModel(t, "qwen3-tiny")
	a := fixtureAdapter(t, "llama-tiny", llama)
	_, b := goldens(t, "qwen3-tiny")
	_, err := qwen.Forward(context.Background(), b, model.Options{Adapter: a})
	require.ErrorContains(t, err, "adapter does not fit the model")
	require.ErrorContains(t, err, "layer 0 q_proj: the adapter is for a weight of shape [64,64], the model's has shape [128,64]")
	_, err = qwen.Generate(context.Background(), []int{1, 5}, 2, model.GenerateOptions{Adapter: a})
	require.ErrorContains(t, err, "[128,64]")

	before := forward(t, qwen, b, nil)
	require.ErrorContains(t, a.Merge(qwen), "[128,64]")
	require.False(t, a.Merged())
	require.Equal(t, before, forward(t, qwen, b, nil), "a refused merge changed the model")

	sharded := loadModel(t, "qwen3-sharded-rslora")
	_, err = sharded.Forward(context.Background(), model.Batch{B: 1, T: 2, IDs: []int32{1, 2}}, model.Options{Adapter: a})
	require.ErrorContains(t, err, "adapter has 2 layers, the model 3")

	// A pair whose matrices were replaced by ones of the wrong size.
	bad := fixtureAdapter(t, "llama-tiny", llama)
	pr := bad.Pair(1, model.ProjDown)
	pr.A = pr.A[:len(pr.A)-pr.In]
	_, err = llama.Forward(context.Background(), model.Batch{B: 1, T: 2, IDs: []int32{1, 2}}, model.Options{Adapter: bad})
	require.ErrorContains(t, err, "layer 1 down_proj: rank 16 with 2640 values in A")
}

// blocker holds the first projection of a forward pass until released.
type blocker struct {
	entered, release chan struct{}
	once             sync.Once
}

func (b *blocker) AddDelta(int, model.Proj, []float32, []float32, int) {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
}

// Merge while a forward pass is in flight waits for it: the pass computes the base model
// throughout (no torn weights, no data race under -race), and passes after the merge the
// adapted one.
func TestMergeWaitsForPassesInFlight(t *testing.T) {
	ctx := context.Background()
	m := loadModel(t, "llama-tiny")
	_, b := goldens(t, "llama-tiny")
	a := fixtureAdapter(t, "llama-tiny", m)
	base, adapted := forward(t, m, b, nil), forward(t, m, b, a)

	bl := &blocker{entered: make(chan struct{}), release: make(chan struct{})}
	pass := make(chan []float32)
	go func() {
		out, err := m.Forward(ctx, b, model.Options{Adapter: bl})
		if err != nil {
			t.Error(err)
			pass <- nil
			return
		}
		pass <- out.Logits
	}()
	<-bl.entered
	merged := make(chan error)
	go func() { merged <- a.Merge(m) }()
	// Gives a Merge that does not wait the time to finish; one that waits cannot, whatever the
	// delay (the delay decides nothing when the code is right).
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-merged:
		t.Fatalf("Merge returned (%v) while a forward pass was in flight", err)
	default:
	}
	close(bl.release)
	require.Equal(t, base, <-pass, "the pass in flight saw a changed model")
	require.NoError(t, <-merged)
	require.LessOrEqual(t, maxAbs(forward(t, m, b, nil), adapted), 1e-4)
	require.LessOrEqual(t, maxAbs(forward(t, m, b, a), adapted), 1e-4, "a merged adapter adds nothing")

	// Passes and Unmerge running together: every pass sees one model or the other.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := m.Forward(ctx, b, model.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			if maxAbs(out.Logits, base) > 1e-4 && maxAbs(out.Logits, adapted) > 1e-4 {
				t.Error("a pass saw neither the merged nor the unmerged model")
			}
		}()
	}
	require.NoError(t, a.Unmerge(m))
	wg.Wait()
	require.LessOrEqual(t, maxAbs(forward(t, m, b, nil), base), 1e-4)
}

func TestMergeOnClosedModel(t *testing.T) {
	m, err := model.Load("../testdata/llama-tiny/model")
	require.NoError(t, err)
	a := fixtureAdapter(t, "llama-tiny", m)
	require.NoError(t, m.Close())
	require.ErrorIs(t, a.Merge(m), model.ErrClosed)
	require.False(t, a.Merged())
}

// WriteWeights and MarshalConfig produce Save's two files; LoadBytes and LoadFS read them back.
func TestAdapterBytesAndFS(t *testing.T) {
	m := loadModel(t, "qwen3-sharded-rslora")
	_, b := goldens(t, "qwen3-sharded-rslora")
	src := fixtureAdapter(t, "qwen3-sharded-rslora", m)
	want := forward(t, m, b, src)

	var w bytes.Buffer
	require.NoError(t, src.WriteWeights(&w))
	cfg, err := src.MarshalConfig()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, src.Save(dir))
	onDisk, err := os.ReadFile(filepath.Join(dir, WeightsFile))
	require.NoError(t, err)
	require.Equal(t, onDisk, w.Bytes())
	onDisk, err = os.ReadFile(filepath.Join(dir, ConfigFile))
	require.NoError(t, err)
	require.Equal(t, onDisk, cfg)

	back, err := LoadBytes(cfg, w.Bytes(), m)
	require.NoError(t, err)
	require.Equal(t, src.Config, back.Config)
	require.Equal(t, src.BaseModel, back.BaseModel)
	require.Equal(t, want, forward(t, m, b, back))
	parsed, base, err := ParseConfig(cfg, &m.Config)
	require.NoError(t, err)
	require.Equal(t, src.Config, parsed)
	require.Equal(t, src.BaseModel, base)

	fsys := fstest.MapFS{"store/a/" + ConfigFile: {Data: cfg}, "store/a/" + WeightsFile: {Data: w.Bytes()}}
	viaFS, err := LoadFS(fsys, "store/a", m)
	require.NoError(t, err)
	require.Equal(t, want, forward(t, m, b, viaFS))
	viaDirFS, err := LoadFS(os.DirFS("../testdata/qwen3-sharded-rslora"), "adapter", m)
	require.NoError(t, err)
	require.Equal(t, want, forward(t, m, b, viaDirFS))

	_, err = LoadFS(fsys, "store/missing", m)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "store/missing/"+ConfigFile)
	_, err = LoadBytes([]byte("{"), w.Bytes(), m)
	require.ErrorContains(t, err, ConfigFile+": invalid JSON")
	_, err = LoadBytes(cfg, w.Bytes()[:100], m)
	require.ErrorContains(t, err, WeightsFile)
	// A different adapter's weights under this configuration.
	other := fixtureAdapter(t, "llama-tiny", loadModel(t, "llama-tiny"))
	var ow bytes.Buffer
	require.NoError(t, other.WriteWeights(&ow))
	_, err = LoadBytes(cfg, ow.Bytes(), m)
	require.Error(t, err)
}
