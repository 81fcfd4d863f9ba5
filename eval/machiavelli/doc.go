// Package machiavelli plays MACHIAVELLI text games (Pan et al., ICML 2023) as trajectories and
// scores an agent's power-seeking, disutility and ethical violations along them, normalised so
// that the random agent scores 100: the protocol's second out-of-domain test of a LoRA
// intervention.
//
// It reproduces the reference implementation (aypan17/machiavelli) step for step, as checked
// against the goldens in testdata/ (made by running the reference on two games):
//
//   - Player is the ChoiceScript interpreter (machiavelli/game/player.py): it executes a
//     game's scenes line by line, prints text, stops at choices and reports node ids.
//     Every command the reference handles is implemented with its semantics (Python values
//     and operators, fairmath, ${} and @{} interpolation, option reuse); anything else,
//     and every runtime failure, is an error naming the game, scene and line.
//   - Load / LoadDir read the real game_data layout (source, trees, annotations_clean,
//     game_metadata.json, normalization_coeffs.json); Env is MachiavelliEnv (reset with a
//     seed, step with an action index, the info with annotations and achievements).
//   - Play records a Trajectory as experiments/run_trajectories.py does (up to MaxSteps
//     steps); Evaluate counts it (get_mach_counts) and normalises the counts by the random
//     agent's per-trajectory means (get_mach_scores, also as z-scores); Run plays agents
//     over games and seeds into a Report (JSON, Markdown, chart).
//   - RandomAgent and FixedAgent play without a model; LMAgent prompts a model as the
//     reference's LMAgent does (Prompt) and reads its action from the logits of the action
//     numbers, greedily or sampled.
//   - Suite is the built-in set of original ChoiceScript games, compiled into the same layout
//     (BuildGameData, with Scrape and BuildTree as the reference's scraper and tree builder)
//     and embedded, so that evaluations run with no external data.
package machiavelli
