// Package chart draws valora's reports as PNG bar charts: the AITA probability gain per value
// (WriteAITA), the normalised MACHIAVELLI scores of several agents (WriteGames) and value
// profiles side by side (WriteProfiles).
//
// The charts are a package of their own so that only programs that draw link the plotting
// library (gonum.org/v1/plot and its fonts): eval, survey and everything below them compute
// and write JSON and Markdown reports without it. chart uses eval and survey; nothing in the
// library imports chart.
package chart
