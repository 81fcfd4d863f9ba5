// Package eval measures behaviour out of the training domain by reading probabilities from a
// model's logits: a candidate scorer (the probability of each candidate continuation of a
// prompt), moral judgments on Reddit AITA posts (probability gain of the NTA / YTA / Neutral
// labels between a tuned and a control model), MACHIAVELLI-style text games (power-seeking,
// disutility and ethical violations of an agent that chooses by the logits of action numbers),
// held-out moral sets (ETHICS commonsense, Moral Stories), and the statistics to report them.
//
// Values are names in the data: eval knows nothing of the survey taxonomy.
package eval
