package machiavelli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// compileScenes turns ChoiceScript scene files into the player's Source the way a game_data
// directory would hold them (Scrape, BuildTree, then the loader). Scenes in drop are left out
// of the compiled source, as in a game_data whose source lacks them. A source the tree builder
// rejects gets an empty tree (every line reports the node "None"), so that the player's own
// handling of it can be tested.
func compileScenes(game string, files map[string]string, drop ...string) (*Source, error) {
	sj, err := Scrape(files)
	if err != nil {
		return nil, fmt.Errorf("game %s: %w", game, err)
	}
	tree := map[string]*TreeNode{}
	if tr, _, err := BuildTree(sj); err == nil {
		tree = tr
	}
	for _, d := range drop {
		delete(sj.Scenes, d)
	}
	sb, err := json.Marshal(sj)
	if err != nil {
		return nil, err
	}
	tb, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	return loadSource(mapFS{"source/" + game + ".json": sb, "trees/" + game + "_game_tree.json": tb}, game)
}

// playScenes plays a compiled game: to the first choice, then each action followed by the
// play to the next choice. It returns the observation of each of those steps.
func playScenes(p *Player, actions []int) ([]string, error) {
	if _, err := p.SkipToNextChoice(); err != nil {
		return nil, err
	}
	obs := []string{p.Flush()}
	for _, a := range actions {
		if _, err := p.Play(a); err != nil {
			return obs, err
		}
		if _, err := p.SkipToNextChoice(); err != nil {
			return obs, err
		}
		obs = append(obs, p.Flush())
	}
	return obs, nil
}

// randint is the value that *rand lo hi draws first after seeding with seed.
func randint(seed uint64, lo, hi int64) int64 { return NewPyRandom(seed).Randint(lo, hi) }

func TestPlayerCommands(t *testing.T) {
	type tc struct {
		name    string
		scenes  map[string]string // scene -> text; a lone startup can be given as startup
		startup string
		seed    uint64
		actions []int
		obs     []string       // the observation of each step
		choices []string       // options on offer at the end (nil: none)
		vars    map[string]any // variables at the end, with their Python types
		unset   []string       // names that must not be defined
		done    bool
		ach     []Achievement
		unlock  []string
		nodes   []string // node ids of the line the player stands on at the end
	}
	tests := []tc{
		{name: "text", startup: "Hello.\nWorld.",
			obs: []string{"Hello.\nWorld.\nTHE END!\n"}, done: true},
		{name: "choice with bodies, then the next line after the block",
			startup: "Pick.\n*choice\n  #Left\n    You go left.\n    *goto end\n  #Right\n    You go right.\n*label end\nDone.",
			actions: []int{1},
			obs:     []string{"Pick.\n0: Left\n1: Right\n", "You go right.\nDone.\nTHE END!\n"}, done: true},
		{name: "choice at its first step",
			startup: "Pick.\n*choice\n  #Left\n    L.\n  #Right\n    R.",
			obs:     []string{"Pick.\n0: Left\n1: Right\n"}, choices: []string{"Left", "Right"},
			nodes: []string{"startup_0"}},
		{name: "choice option with *goto",
			startup: "*choice\n  #Left\n    You go left.\n    *goto end\n  #Right\n    R.\nSkipped.\n*label end\nDone.",
			actions: []int{0},
			obs:     []string{"0: Left\n1: Right\n", "You go left.\nDone.\nTHE END!\n"}, done: true},
		{name: "fake_choice with options without bodies",
			startup: "*fake_choice\n  #Tea\n  #Coffee\nAfter.",
			actions: []int{1},
			obs:     []string{"0: Tea\n1: Coffee\n", "After.\nTHE END!\n"}, done: true},
		{name: "option texts are interpolated when printed, kept raw in choice_texts",
			startup: "*create who \"Ann\"\n*choice\n  #Greet ${who}\n    Hi.\n  #Leave\n    Bye.",
			obs:     []string{"0: Greet Ann\n1: Leave\n"}, choices: []string{"Greet ${who}", "Leave"}},
		{name: "if: first clause", startup: "*create n 1\n*if n = 1\n  One.\n*elseif n = 2\n  Two.\n*else\n  Many.\nAfter.",
			obs: []string{"One.\nAfter.\nTHE END!\n"}, done: true},
		{name: "if: elseif", startup: "*create n 2\n*if n = 1\n  One.\n*elseif n = 2\n  Two.\n*else\n  Many.\nAfter.",
			obs: []string{"Two.\nAfter.\nTHE END!\n"}, done: true},
		{name: "if: else", startup: "*create n 7\n*if n = 1\n  One.\n*elseif n = 2\n  Two.\n*else\n  Many.\nAfter.",
			obs: []string{"Many.\nAfter.\nTHE END!\n"}, done: true},
		{name: "if: none true, no else", startup: "*create n 7\n*if n < 3\n  Small.\n*elseif n < 5\n  Medium.\nAfter.",
			obs: []string{"After.\nTHE END!\n"}, done: true},
		{name: "if: nested, strings, and/or/not, TRUE/false",
			startup: "*create name \"ada\"\n*create ok TRUE\n*if (name = \"ada\") and ok\n  *if not(ok) or false\n    No.\n  *else\n    Yes.\nAfter.",
			obs:     []string{"Yes.\nAfter.\nTHE END!\n"}, done: true},
		{name: "set: arithmetic operator forms",
			startup: "*create a 10\n*set a + 5\n*create b 10\n*set b - 1\n*create c 10\n*set c * 2\n*create d 10\n*set d / 4\n" +
				"*create e 10\n*set e e modulo 3\n*create f 2\n*set f f^3\n*create g 0\n*set g 2^-1\n*create h 0\n*set h round(2.5)\n" +
				"*create i 0\n*set i (a + 1) * 2\n*create j 0\n*set j a = 15\n*create k 0\n*set k round(d - 0.5)",
			obs: []string{"THE END!\n"}, done: true,
			vars: map[string]any{"a": int64(15), "b": int64(9), "c": int64(20), "d": 2.5, "e": int64(1), "f": int64(8),
				"g": int64(0), "h": int64(2), "i": int64(32), "j": true, "k": int64(2)}},
		{name: "set: fairmath",
			startup: "*create s 50\n*set s %+ 20\n*create t 50\n*set t %- 25\n*create u 50\n*set u %+15\n*create v 40\n*set v %- 0",
			obs:     []string{"THE END!\n"}, done: true,
			vars: map[string]any{"s": int64(60), "t": int64(38), "u": int64(58), "v": int64(40)}},
		{name: "set: strings, concatenation and the &\"...\" append form",
			startup: "*create s \"x\"\n*create t \"\"\n*set t s & \"yz\" & 3\n*create u \"ab\"\n*set u &\"c\"\n*create w \"true\"\n*create q 'it'",
			obs:     []string{"THE END!\n"}, done: true,
			vars: map[string]any{"s": "x", "t": "xyz3", "u": `ab""c""`, "w": true, "q": "'it'"}},
		{name: "set: booleans",
			startup: "*create a false\n*create b true\n*set a true\n*set b not(a)",
			obs:     []string{"THE END!\n"}, done: true, vars: map[string]any{"a": true, "b": false}},
		{name: "temp: with and without value", startup: "*temp x 5\n*temp y\n*set x + 1",
			obs: []string{"THE END!\n"}, done: true, vars: map[string]any{"x": int64(6), "y": nil}},
		{name: "create: name lower-cased", startup: "*create Gold 3\n*set GOLD + 1\nYou have ${gold} gold.",
			obs: []string{"You have 4 gold.\nTHE END!\n"}, done: true, vars: map[string]any{"gold": int64(4)}, unset: []string{"Gold"}},
		{name: "goto and label", startup: "*goto skip\nHidden.\n*label skip\nShown.",
			obs: []string{"Shown.\nTHE END!\n"}, done: true},
		{name: "gosub, params and return",
			startup: "*gosub greet \"Ann\" 3\nBack.\n*ending\n*label greet\n*params who n\nHi ${who} x${n}.\n*return",
			obs:     []string{"Hi Ann x3.\nBack.\nTHE END!\n"}, done: true, vars: map[string]any{"who": "Ann", "n": int64(3)}},
		{name: "scene_list, finish, gosub_scene, return, goto_scene with a label",
			scenes: map[string]string{
				"startup": "*scene_list\n  startup\n  middle\n  last\nStart.\n*finish",
				"middle":  "Middle.\n*gosub_scene helper\nMiddle again.\n*goto_scene last there",
				"helper":  "Helping.\n*return",
				"last":    "Skipped.\n*label there\nLast.",
			},
			obs: []string{"Start.\nMiddle.\nHelping.\nMiddle again.\nLast.\nTHE END!\n"}, done: true},
		{name: "running off a scene finishes it", scenes: map[string]string{
			"startup": "*scene_list\n  startup\n  two\nOne.", "two": "Two."},
			obs: []string{"One.\nTwo.\nTHE END!\n"}, done: true},
		{name: "goto_scene without a label", scenes: map[string]string{
			"startup": "*scene_list\n  startup\n  b\nA.\n*goto_scene b\nNot shown.", "b": "B."},
			obs: []string{"A.\nB.\nTHE END!\n"}, done: true},
		{name: "ending mid-scene", startup: "A.\n*ending\nB.",
			obs: []string{"A.\nTHE END!\n"}, done: true},
		{name: "page_break bare and with text", startup: "A.\n*page_break\nB.\n*page_break Next\nC.",
			obs: []string{"A.\n**********\nB.\n*****Next*****\nC.\nTHE END!\n"}, done: true},
		{name: "line_break, comment and ignored commands print nothing",
			startup: "*title T\n*author X\nA.\n*line_break\n*comment anything #here\n*image x.png\n*link http://x\n*script x\n*abort\nB.",
			obs:     []string{"A.\nB.\nTHE END!\n"}, done: true},
		{name: "achievement, achieve, choice_achieved_",
			startup: "*achievement brave visible 10 The Brave\n  Be brave.\n  You were brave.\n*achievement sly hidden 5 Sly One\n  Be sly.\n" +
				"*achieve BRAVE\n*achieve brave\n*if choice_achieved_brave\n  Yes brave.\n*if choice_achieved_sly\n  Sly.\nDone.",
			obs: []string{"Yes brave.\nDone.\nTHE END!\n"}, done: true,
			ach: []Achievement{{Name: "brave", Visible: true, Points: 10, Title: "The Brave", Pre: "Be brave.", Post: "You were brave."},
				{Name: "sly", Points: 5, Title: "Sly One", Pre: "Be sly.", Post: "Be sly."}},
			unlock: []string{"brave"}},
		{name: "rand", startup: "*create r 0\n*rand r 1 6\nRolled ${r}.", seed: 7,
			obs: []string{fmt.Sprintf("Rolled %d.\nTHE END!\n", randint(7, 1, 6))}, done: true,
			vars: map[string]any{"r": randint(7, 1, 6)}},
		{name: "rand bounds are expressions", startup: "*create lo 10\n*create r 0\n*rand r lo lo+2", seed: 3,
			obs: []string{"THE END!\n"}, done: true, vars: map[string]any{"r": randint(3, 10, 12)}},
		{name: "input_text and input_number",
			startup: "*create name \"\"\n*create age 0\n*input_text name\n*input_number age 1 99\n${name} ${age}",
			obs:     []string{"user_input 1\nTHE END!\n"}, done: true, vars: map[string]any{"name": "user_input", "age": int64(1)}},
		{name: "stat_chart is skipped", startup: "*create str 5\n*stat_chart\n  text str Strength\n  percent str Str\nAfter.",
			obs: []string{"After.\nTHE END!\n"}, done: true},
		{name: "interpolation: ${}, $!{}, $!!{}, V#N, expressions",
			startup: "*create name \"ada\"\n*create n 3\n*create x 2.5\nHi ${name}, $!{name}, $!!{name}. ${n + 1} ${name#2} ${x * 2} ${n > 2}",
			obs:     []string{"Hi ada, Ada, ADA. 4 d 5.0 True\nTHE END!\n"}, done: true},
		{name: "multireplace @{}: bool, number, 0 selects the last",
			startup: "*create brave true\n*create shy false\n*create k 2\nYou are @{brave bold|timid}, @{shy shy|open}. Pick @{k one|two|three}. Zero @{0 a|b|c}.",
			obs:     []string{"You are bold, open. Pick two. Zero c.\nTHE END!\n"}, done: true},
		{name: "selectable_if hides a false option; hide_reuse and disable_reuse hide a taken option",
			startup: "*create gold 1\n*label top\n*choice\n  *selectable_if (gold > 5) #Buy\n    Bought.\n    *goto top\n" +
				"  *hide_reuse #Look\n    Looked.\n    *goto top\n  *disable_reuse #Listen\n    Listened.\n    *goto top\n  #Leave\n    Bye.",
			actions: []int{0, 0, 0},
			obs: []string{"0: Look\n1: Listen\n2: Leave\n", "Looked.\n0: Listen\n1: Leave\n", "Listened.\n0: Leave\n",
				"Bye.\nTHE END!\n"}, done: true},
		{name: "selectable_if true is offered",
			startup: "*create gold 9\n*choice\n  *selectable_if (gold > 5) #Buy\n    Bought.\n  #Leave\n    Bye.",
			actions: []int{0}, obs: []string{"0: Buy\n1: Leave\n", "Bought.\nTHE END!\n"}, done: true},
		{name: "hide_reuse command with allow_reuse on an option",
			startup: "*hide_reuse\n*label top\n*choice\n  #A\n    a\n    *goto top\n  *allow_reuse #B\n    b\n    *goto top\n  #C\n    c",
			actions: []int{0, 0, 1},
			obs:     []string{"0: A\n1: B\n2: C\n", "a\n0: B\n1: C\n", "b\n0: B\n1: C\n", "c\nTHE END!\n"}, done: true},
		{name: "options inside *if and *else are both offered when the *if is true",
			startup: "*create rich true\n*choice\n  *if rich\n    #Buy\n      Bought.\n  *else\n    #Beg\n      Begged.\n  #Leave\n    Bye.",
			obs:     []string{"0: Buy\n1: Beg\n2: Leave\n"}, choices: []string{"Buy", "Beg", "Leave"}},
		{name: "options inside a false *if are hidden",
			startup: "*create rich false\n*choice\n  *if rich\n    #Buy\n      Bought.\n  #Leave\n    Bye.",
			actions: []int{0}, obs: []string{"0: Leave\n", "Bye.\nTHE END!\n"}, done: true},
		{name: "option condition on the option line",
			startup: "*create n 1\n*choice\n  *if (n > 3) #Big\n    B.\n  *if (n < 3) #Small\n    S.",
			actions: []int{0}, obs: []string{"0: Small\n", "S.\nTHE END!\n"}, done: true},
		{name: "choice body falls through to the line after the block",
			startup: "*choice\n  #A\n    a\n  #B\n    b\nAfter.\n*choice\n  #C\n    c",
			actions: []int{1, 0},
			obs:     []string{"0: A\n1: B\n", "b\nAfter.\n0: C\n", "c\nTHE END!\n"}, done: true},
		{name: "a text line reading THE END! ends the game", startup: "A.\nTHE END!\nB.",
			obs: []string{"A.\nTHE END!\n"}, done: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scenes := tt.scenes
			if scenes == nil {
				scenes = map[string]string{"startup": tt.startup}
			}
			src, err := compileScenes("t", scenes)
			if err != nil {
				t.Fatal(err)
			}
			p := NewPlayer(src, NewPyRandom(tt.seed))
			obs, err := playScenes(p, tt.actions)
			if err != nil {
				t.Fatalf("%v (observations so far %q)", err, obs)
			}
			if !slices.Equal(obs, tt.obs) {
				t.Errorf("observations\n got %q\nwant %q", obs, tt.obs)
			}
			if got := p.ChoiceTexts(); !slices.Equal(got, tt.choices) || p.NumChoices() != len(tt.choices) {
				t.Errorf("choice texts %q (%d), want %q", got, p.NumChoices(), tt.choices)
			}
			if p.Done() != tt.done {
				t.Errorf("done = %v, want %v", p.Done(), tt.done)
			}
			for k, want := range tt.vars {
				got, ok := p.sym[k]
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v (defined %v), want %#v", k, got, ok, want)
				}
			}
			for _, k := range tt.unset {
				if v, ok := p.sym[k]; ok {
					t.Errorf("%s is defined (%#v)", k, v)
				}
			}
			if tt.ach != nil && !reflect.DeepEqual(p.Achievements(), tt.ach) {
				t.Errorf("achievements %+v, want %+v", p.Achievements(), tt.ach)
			}
			if got := p.Unlocked(); !slices.Equal(got, tt.unlock) {
				t.Errorf("unlocked %q, want %q", got, tt.unlock)
			}
			if tt.nodes != nil && !slices.Equal(p.Node(), tt.nodes) {
				t.Errorf("node %q, want %q", p.Node(), tt.nodes)
			}
		})
	}
}

// TestPlayerTempsRestored checks *temp's save and restore: a temp keeps its value when its
// scene is entered again, even if the global table was changed elsewhere.
func TestPlayerTempsRestored(t *testing.T) {
	src, err := compileScenes("t", map[string]string{
		"startup": "*scene_list\n  startup\n  last\n*temp x 1\n*set x + 1\n*gosub_scene other\n${x}\n*goto_scene last",
		"other":   "*set x 40\n${x}\n*return",
		"last":    "*temp x 7\n*gosub_scene other\n${x}",
	})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlayer(src, NewPyRandom(0))
	obs, err := playScenes(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	// *return goes back without entering the scene, so the value set in "other" stays.
	if want := "40\n40\n40\n40\nTHE END!\n"; len(obs) != 1 || obs[0] != want {
		t.Errorf("observations %q, want %q", obs, want)
	}
}

func TestPlayerBadSources(t *testing.T) {
	tests := []struct {
		name    string
		scenes  map[string]string // scene -> text; a lone startup can be given as startup
		startup string
		drop    []string
		actions []int
		scene   string // where the error is reported (default startup)
		line    int
		msg     string
	}{
		{name: "unknown command", startup: "A.\n*print x", line: 1, msg: `unsupported command "*print"`},
		{name: "text line starting with *", startup: "A.\n*Hello there", line: 1, msg: "unsupported command"},
		{name: "*else reached directly", startup: "*else\n  A.", line: 0, msg: `unsupported command "*else"`},
		{name: "missing label", startup: "A.\n*goto nowhere\nB.", line: 1, msg: "no label nowhere in scene startup"},
		{name: "missing label of gosub", startup: "*create x 1\n*gosub nowhere", line: 1, msg: "no label nowhere"},
		{name: "missing label in another scene", scenes: map[string]string{
			"startup": "*scene_list\n  startup\n  b\n*goto_scene b nowhere", "b": "B."},
			line: 3, msg: "no label nowhere in scene b"},
		{name: "goto_scene to a scene the source lacks", scenes: map[string]string{
			"startup": "*scene_list\n  startup\n  b\nA.\n*goto_scene b", "b": "B."}, drop: []string{"b"},
			line: 4, msg: "no scene b"},
		{name: "choice without indented options", startup: "*choice\n#A\n  a", line: 0, msg: "*choice without options"},
		{name: "if without an indented body", startup: "*create x 1\n*if x = 1\nA.", line: 1, msg: "empty conditional clause"},
		{name: "bad expression in *set", startup: "*create x 1\n*set x (x +", line: 1, msg: "evaluating"},
		{name: "unknown variable in *if", startup: "A.\n*if nosuch > 1\n  B.", line: 1, msg: "nosuch"},
		{name: "non-bool condition", startup: "*create x 1\n*if x + 1\n  B.", line: 1, msg: "not a bool"},
		{name: "unknown variable in ${}", startup: "A.\nHello ${nosuch}.", line: 1, msg: "nosuch"},
		{name: "unbalanced ${", startup: "*create x 1\nHello ${x.", line: 1, msg: "unbalanced"},
		{name: "str compared with a number", startup: "*create s \"a\"\n*if s > 1\n  B.", line: 1, msg: "evaluating"},
		{name: "return without gosub", startup: "A.\n*return", line: 1, msg: "*return without *gosub"},
		{name: "bug", startup: "A.\n*bug broken", line: 1, msg: "*bug reached"},
		{name: "finish in the last scene", scenes: map[string]string{
			"startup": "*scene_list\n  startup\n  b\n*finish", "b": "B.\n*finish"},
			scene: "b", line: 1, msg: "*finish in the last scene"},
		{name: "bad action", startup: "*choice\n  #A\n    a", actions: []int{3}, line: 0, msg: "action 3 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scenes := tt.scenes
			if scenes == nil {
				scenes = map[string]string{"startup": tt.startup}
			}
			src, err := compileScenes("bad", scenes, tt.drop...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = playScenes(NewPlayer(src, NewPyRandom(0)), tt.actions)
			if err == nil {
				t.Fatal("no error")
			}
			where := fmt.Sprintf("game bad, scene %s, line %d ", cmp.Or(tt.scene, "startup"), tt.line)
			if !strings.HasPrefix(err.Error(), where) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want it to start with %q and contain %q", err, where, tt.msg)
			}
		})
	}
}
