// Package eval measures behaviour out of the training domain by reading probabilities from a
// model's logits: a candidate scorer (the probability of each candidate continuation of a
// prompt), moral judgments on Reddit AITA posts (probability gain of the NTA / YTA / Neutral
// labels between a tuned and a control model), held-out moral sets (ETHICS commonsense, Moral
// Stories) and the statistics to report them, written as JSON and Markdown. The MACHIAVELLI
// text games themselves (a ChoiceScript player, trajectories of an agent that chooses by the
// logits of action numbers, power-seeking, disutility and ethical violations normalised by the
// random agent) are package eval/machiavelli, which uses the scorer. The charts of the reports
// are package survey/chart, so that a program that only scores links no plotting library.
//
// Values are names in the data: eval knows nothing of the survey taxonomy.
package eval
