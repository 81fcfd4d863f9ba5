package tokenize

import (
	"io/fs"
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// LoadFS reads the same tokenizer as Load (vocabulary, special tokens, chat template) from any
// fs.FS; tokenizer_config.json stays optional there too.
func TestLoadFS(t *testing.T) {
	for _, dir := range []string{"qwen3-tokenizer", "stories260k"} {
		t.Run(dir, func(t *testing.T) {
			want, err := Load("../testdata/" + dir)
			require.NoError(t, err)
			got, err := LoadFS(os.DirFS("../testdata"), dir)
			require.NoError(t, err)
			require.Equal(t, want.HasChatTemplate(), got.HasChatTemplate())
			require.Equal(t, want.SpecialIDs(), got.SpecialIDs())
			for _, s := range []string{"Lily went to the park.", "héllo  wörld\n\t<|im_end|>"} {
				w, err := want.Encode(s, true)
				require.NoError(t, err)
				g, err := got.Encode(s, true)
				require.NoError(t, err)
				require.Equal(t, w, g, "%q", s)
			}
			if want.HasChatTemplate() {
				c := Chat{Enabled: true, System: "Be brief."}
				w, err := want.RenderPrompt("Hi", "", c)
				require.NoError(t, err)
				g, err := got.RenderPrompt("Hi", "", c)
				require.NoError(t, err)
				require.Equal(t, w, g)
			}
		})
	}

	raw, err := os.ReadFile("../testdata/stories260k/tokenizer.json")
	require.NoError(t, err)
	only := fstest.MapFS{"tok/tokenizer.json": {Data: raw}}
	tok, err := LoadFS(only, "tok")
	require.NoError(t, err)
	_, hasBOS := tok.BOS()
	require.False(t, hasBOS, "no tokenizer_config.json, no bos_token")

	_, err = LoadFS(only, "elsewhere")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "elsewhere/tokenizer.json")
	only["tok/tokenizer_config.json"] = &fstest.MapFile{Data: []byte("{")}
	_, err = LoadFS(only, "tok")
	require.ErrorContains(t, err, "tok/tokenizer_config.json")
}
