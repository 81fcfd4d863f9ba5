package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	cases := []struct {
		name     string
		existing []byte // content at the destination before the write; nil: none
		data     []byte
	}{
		{"new file", nil, []byte(`{"a": 1}`)},
		{"replaces", []byte("old content, longer than the new"), []byte("new")},
		{"empty", []byte("x"), []byte{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f.json")
			if c.existing != nil {
				require.NoError(t, os.WriteFile(p, c.existing, 0o600))
			}
			require.NoError(t, WriteFile(p, c.data))
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Equal(t, string(c.data), string(got))
			st, err := os.Stat(p)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "readable by all, as os.WriteFile makes it")
			ents, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, ents, 1, "no temporary file is left")
		})
	}
}

func TestWriteFailureLeavesDestinationAlone(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	require.NoError(t, os.WriteFile(p, []byte("before"), 0o644))
	err := Write(p, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errors.New("disk on fire")
	})
	require.ErrorContains(t, err, "write "+p+": disk on fire")
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "before", string(got))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "the temporary file is removed")
}

func TestWriteMissingDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "f.txt")
	require.ErrorContains(t, WriteFile(p, []byte("x")), "write "+p)
}

func TestWriteReplacesSymlinkInsteadOfFollowing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.txt")
	require.NoError(t, os.WriteFile(target, []byte("target"), 0o644))
	link := filepath.Join(dir, "link.txt")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	require.NoError(t, WriteFile(link, []byte("new")))
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "target", string(got), "the link's target is untouched")
	st, err := os.Lstat(link)
	require.NoError(t, err)
	require.True(t, st.Mode().IsRegular(), "the link is replaced by a regular file")
}
