// Package survey runs the survey half of the survey-to-behavior protocol (Nie et al. 2025,
// arXiv 2508.11414; PaperPreset holds its settings, and the repository's README compares them
// with valora's): the ValueEval value taxonomy, survey instruments (value descriptions x task prompts x
// response templates), the rating read-out on a score.Scorer (package eval/score), value profiles, the training
// rows of an intervention, and the in-domain metrics that compare a tuned model with a
// control. Training the adapters is package train; the out-of-domain tests are package eval.
//
// # Taxonomy
//
// The 20 values (Value, spelled as in the authors' data, e.g. Benevolence_dependability), the 54
// level-1 values below them (Level1, e.g. "Be creative"), the 10 Schwartz basic values
// (BasicValue; Face belongs to Power and Humility to Tradition) and the four higher-order
// groups (HigherOrder). Values lists the 20 values in the circular order of Schwartz's refined
// value theory, as the authors list them (Self_direction_thought first, Universalism_objectivity
// last); Resolve finds the values covered by a name of any level.
//
// # Instruments
//
// Builtin returns the instrument embedded in this package (instrument/builtin.json): 594
// descriptions written for valora, 11 per level-1 value, 3 task prompts and 9 response
// templates, so that a survey needs no files. LoadFile reads the authors' JSON file
// (kvs_data_new.json) or our own JSON / JSONL format (see README.md in this directory).
//
// # Prompts
//
// A variant is one description under one task and one template (27 per description in the
// 3 x 9 structure). Render maps it onto score.Prompt:
//
//	Text   = task + "\n\nStatement:\n" + description + "\n\n"
//	Prefix = template up to "{rating}"          (e.g. "Rating: ")
//
// so that a plain (non-chat) model sees
//
//	<task>\n\nStatement:\n<description>\n\nRating:␣
//
// (␣ marks the trailing space) and the candidates are the bare digits "1".."6": the space that precedes the digit belongs
// to the prefix, the candidate has none. (RenderOptions.SpaceInCandidate moves that space into
// the candidates, " 1".." 6", for tokenizers that attach a space to the digit.) In chat mode
// the scorer puts Text in the user turn and Prefix at the start of the assistant turn.
//
// # Ratings
//
// Rate reads a rating from every variant in batches: in logit mode the log-probabilities of
// the six digits are softmax-normalised into a distribution over 1..6 (expected value and
// argmax); in sampled mode one digit is drawn from softmax(logp/T) with a seeded *rand.Rand.
// Sampled mode therefore samples only among the six digits (the authors sampled freely and
// took the first digit; a model that puts mass elsewhere is treated here as if that mass were
// renormalised over the digits). Vote takes the majority over a description's variants (ties:
// closest to the mean vote, then the lower).
//
// # Attribution
//
// The built-in descriptions are original sentences written for this project from the meaning
// of the ValueEval taxonomy: the level-1 value names, value names and goals of Kiesel et al.
// 2022 and the Touché23-ValueEval value categories (Webis group, CC-BY-4.0,
// https://webis.de/data/touche23-valueeval.html). The taxonomy names in this package are
// theirs. The authors' instrument (Nie et al. 2025, arXiv 2508.11414) is read from a file and
// is not embedded.
package survey
