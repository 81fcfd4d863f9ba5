// Package eval measures behaviour out of the training domain by reading probabilities from a
// model's logits through a score.Scorer (package eval/score, the candidate scorer): moral
// judgments on Reddit AITA posts (probability gain of the NTA / YTA / Neutral labels between a
// tuned and a control model; aita.go, aita_target.go for the revised protocol's per-target
// report), AITA posts with community verdicts (verdict.go), held-out moral sets (ETHICS
// commonsense, Moral Stories; moral.go), with the readers of their data sets (load.go) and what
// the tuned-vs-control comparisons share (compare.go), the names of the MACHIAVELLI metrics the
// game reports use (games.go), and the statistics to report them (stats.go), written as JSON
// and Markdown.
//
// The benchmarks hand prompts to the Scorer in calls of AITAOptions.BatchSize /
// MoralOptions.BatchSize prompts (default score.DefaultCallBatch); a score.ModelScorer splits
// each call into forward passes of score.Options.BatchSize prompts (default
// score.DefaultBatchSize).
//
// The MACHIAVELLI text games themselves (a ChoiceScript player, trajectories of an agent that
// chooses by the logits of action numbers, power-seeking, disutility and ethical violations
// normalised by the random agent) are package eval/machiavelli. The charts of the reports are
// package survey/chart, so that a program that only scores links no plotting library.
//
// Values are names in the data: eval knows nothing of the survey taxonomy.
package eval
