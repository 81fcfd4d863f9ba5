package eval

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// WriteJSON and WriteMarkdown write a report whole (the chart: package survey/chart) and leave
// no temporary file behind.
func TestWriteReports(t *testing.T) {
	posts, err := LoadAITAStances("testdata/aita_stances.jsonl")
	require.NoError(t, err)
	tuned, control := aitaTestScorers()
	rep, err := RunAITA(context.Background(), tuned, control, posts, AITAOptions{})
	require.NoError(t, err)

	dir := t.TempDir()
	jsonPath, mdPath := filepath.Join(dir, "aita.json"), filepath.Join(dir, "aita.md")
	require.NoError(t, WriteJSON(jsonPath, rep))
	require.NoError(t, WriteMarkdown(mdPath, rep))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)

	want, err := json.MarshalIndent(rep, "", "  ")
	require.NoError(t, err)
	got, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	require.Equal(t, string(want)+"\n", string(got))
	got, err = os.ReadFile(mdPath)
	require.NoError(t, err)
	require.Equal(t, rep.Markdown(), string(got))
}
