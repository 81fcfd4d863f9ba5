package machiavelli

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// EndText is what the player prints when a game ends.
const EndText = "THE END!"

type srcLine struct {
	text   string
	indent int
}

// Achievement is a declared *achievement: name, visibility, points, title and the texts shown
// before and after unlocking.
type Achievement struct {
	Name    string
	Visible bool
	Points  int
	Title   string
	Pre     string
	Post    string
}

// Source is a game's code as the reference's scraper writes it (source/{game}.json), with the
// two lines that loading appends to every scene, and its node map (trees/{game}_game_tree.json).
type Source struct {
	Game       string
	Title      string
	Author     string
	scenes     map[string][]srcLine
	sceneList  []string
	labels     map[string]int
	kwVars     []string
	lineToNode map[string]map[int][]string
}

type sceneLoc struct {
	scene string
	idx   int
}

// Player is the reference's ChoiceScript interpreter (machiavelli/game/player.py): it executes
// a game line by line, prints text into a buffer, stops at choices and reports node ids.
type Player struct {
	src *Source
	rnd *PyRandom

	curScene      string
	idx           int
	choiceLines   [][2]int // target line, option line
	choiceTexts   []string
	sceneHist     []sceneLoc
	discarded     map[string]bool
	discardOrder  []string
	hideReuse     bool
	achievements  map[string]Achievement
	achOrder      []string
	unlocked      []string
	done          bool
	userVars      []string
	userVarSet    map[string]bool
	sceneTemps    map[string]map[string]any
	sceneTempKeys map[string][]string
	params        []string
	hasParams     bool
	sym           map[string]any
	buf           strings.Builder
}

var predefTrue = []string{"choice_is_web", "choice_user_restored", "choice_purchased_adfree", "choice_purchased_adspace",
	"choice_purchased_supported", "choice_purchase_supported", "choice_purchased_full",
	"choice_purchased_usurpersoutcasts", "choice_purchased_secretsandshadows", "choice_purchased_intrigues",
	"choice_purchased_tildeath", "choice_purchased_consort", "choice_purchased_lifemage", "choice_purchased_juanita",
	"choice_purchased_memphis", "choice_purchased_stlouis"}

var predefFalse = []string{"choice_is_steam", "choice_is_omnibus_app", "choice_is_ios_app", "choice_save_allowed",
	"choice_subscribe_allowed", "choice_randomtest", "choice_quicktest", "choice_prerelease", "choice_nightmode",
	"choice_is_advertising_supported", "choice_is_trial", "choice_purchased_cheats", "choice_purchased_hints",
	"choice_purchased_seal", "choice_purchased_legendguide", "choice_purchased_warningsys",
	"choice_purchased_extraworning", "choice_purchased_youpower", "choice_purchased_warningsysnine",
	"choice_purchased_commentary", "choice_purchased_characterdatabase", "choice_purchased_fatedbabel",
	"choice_purchased_loveandshadows", "choice_purchased_motivationboost"}

// NewPlayer makes a player over src; rnd is the Python random generator used by *rand and
// *goto_random_scene (shared with the environment, which seeds it).
func NewPlayer(src *Source, rnd *PyRandom) *Player {
	p := &Player{src: src, rnd: rnd}
	p.Reset()
	return p
}

// Reset starts the game afresh (the print buffer and *params are kept, as upstream).
func (p *Player) Reset() {
	p.curScene = "startup"
	p.idx = 0
	p.choiceLines = nil
	p.choiceTexts = nil
	p.sceneHist = nil
	p.discarded = map[string]bool{}
	p.discardOrder = nil
	p.hideReuse = false
	p.achievements = map[string]Achievement{}
	p.achOrder = nil
	p.unlocked = nil
	p.done = false
	p.userVars = nil
	p.userVarSet = map[string]bool{}
	p.sceneTemps = map[string]map[string]any{}
	p.sceneTempKeys = map[string][]string{}
	p.sym = map[string]any{}
	for _, n := range predefTrue {
		p.sym[n] = true
	}
	for _, n := range predefFalse {
		p.sym[n] = false
	}
}

func (p *Player) lookup(name string) (any, bool) {
	if v, ok := p.sym[name]; ok {
		return v, true
	}
	v, ok := builtins[name]
	return v, ok
}

func (p *Player) lines() []srcLine { return p.src.scenes[p.curScene] }

func (p *Player) line(i int) (srcLine, error) {
	ls := p.lines()
	if i < 0 || i >= len(ls) {
		return srcLine{}, fmt.Errorf("line %d out of range of scene %s", i, p.curScene)
	}
	return ls[i], nil
}

// Done reports whether the game has ended.
func (p *Player) Done() bool { return p.done }

// NumChoices is the number of options on offer (0 when not at a choice).
func (p *Player) NumChoices() int { return len(p.choiceLines) }

// ChoiceTexts are the raw option texts on offer.
func (p *Player) ChoiceTexts() []string { return slices.Clone(p.choiceTexts) }

// Unlocked lists the unlocked achievements in unlock order.
func (p *Player) Unlocked() []string { return slices.Clone(p.unlocked) }

// Achievements lists the declared achievements in declaration order.
func (p *Player) Achievements() []Achievement {
	out := make([]Achievement, len(p.achOrder))
	for i, n := range p.achOrder {
		out[i] = p.achievements[n]
	}
	return out
}

// Flush returns and empties the print buffer.
func (p *Player) Flush() string {
	s := p.buf.String()
	p.buf.Reset()
	return s
}

func (p *Player) print(s string) {
	p.buf.WriteString(s)
	p.buf.WriteString("\n")
}

// Node returns the node ids of the current line (["None"] when it is in no node).
func (p *Player) Node() []string {
	if m, ok := p.src.lineToNode[p.curScene]; ok {
		if n, ok := m[p.idx]; ok {
			return n
		}
	}
	return []string{"None"}
}

// Stats returns the user variables sorted by name; values that are not numbers or bools read 0.
func (p *Player) Stats() ([]string, []any) {
	names := slices.Clone(p.userVars)
	sort.Strings(names)
	vals := make([]any, len(names))
	for i, n := range names {
		v, ok := p.sym[n]
		switch v.(type) {
		case int64, float64, bool:
		default:
			ok = false
		}
		if !ok {
			v = int64(0)
		}
		vals[i] = v
	}
	return names, vals
}

func (p *Player) wrap(err error) error { return p.wrapAt(p.curScene, p.idx, err) }

// wrapAt names the game, scene and line (0-based, as in source/{game}.json) in err.
func (p *Player) wrapAt(scene string, idx int, err error) error {
	text := ""
	if ls := p.src.scenes[scene]; idx >= 0 && idx < len(ls) {
		text = ls[idx].text
	}
	return fmt.Errorf("game %s, scene %s, line %d (%q): %w", p.src.Game, scene, idx, text, err)
}

// Play executes one line (upstream play): it returns 1 after printing the options of a choice
// (action < 0) or 0 after taking action, -1 when the game ends, else 0. Errors name the game,
// scene and line executed.
func (p *Player) Play(action int) (int, error) {
	scene, idx := p.curScene, p.idx
	wrap := func(err error) error { return p.wrapAt(scene, idx, err) }
	text, choices, isText, err := p.state()
	if err != nil {
		return 0, wrap(err)
	}
	if len(p.choiceLines) > 0 {
		if action < 0 {
			for i, c := range choices {
				t, err := p.processText(c)
				if err != nil {
					return 0, wrap(err)
				}
				p.print(fmt.Sprintf("%d: %s", i, t))
			}
			return 1, nil
		}
		if err := p.act(action); err != nil {
			return 0, wrap(err)
		}
		return 0, nil
	}
	if isText {
		t, err := p.processText(text)
		if err != nil {
			return 0, wrap(err)
		}
		p.print(t)
		if text == EndText {
			p.done = true
			return -1, nil
		}
	}
	return 0, nil
}

func (p *Player) act(a int) error {
	if a < 0 || a >= len(p.choiceLines) {
		return fmt.Errorf("action %d out of range [0, %d)", a, len(p.choiceLines))
	}
	target, opt := p.choiceLines[a][0], p.choiceLines[a][1]
	p.idx = target
	name := fmt.Sprintf("%s_%d", p.curScene, opt)
	if _, ok := p.discarded[name]; ok {
		p.discarded[name] = true
	}
	p.choiceLines = nil
	p.choiceTexts = nil
	return nil
}

// SkipToNextChoice plays until a choice is printed or the game ends and returns the node id
// lists visited (upstream skip_to_next_choice).
func (p *Player) SkipToNextChoice() ([][]string, error) {
	nodes := [][]string{p.Node()}
	for steps := 0; ; steps++ {
		if steps > 1_000_000 {
			return nodes, p.wrap(fmt.Errorf("no choice or ending after %d lines (endless loop)", steps))
		}
		code, err := p.Play(-1)
		if err != nil {
			return nodes, err
		}
		if code != 0 {
			return nodes, nil
		}
		if n := p.Node(); !slices.Equal(nodes[len(nodes)-1], n) {
			nodes = append(nodes, n)
		}
	}
}
