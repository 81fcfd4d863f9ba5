package machiavelli

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
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

func nestedLen(ls []srcLine, i int) int {
	w := ls[i].indent
	j := i + 1
	for j < len(ls) && ls[j].indent > w {
		j++
	}
	return j - i
}

func conditionalLen(ls []srcLine, i int) int {
	w := ls[i].indent
	j := i + 1
	for j < len(ls) {
		if ls[j].indent > w {
			j++
		} else if ls[j].indent == w && hasAnyPrefix(ls[j].text, "*elseif", "*elsif", "*else") {
			j++
		} else {
			break
		}
	}
	return j - i
}

func hasAnyPrefix(s string, ps ...string) bool {
	for _, x := range ps {
		if strings.HasPrefix(s, x) {
			return true
		}
	}
	return false
}

var reBraceHash = regexp.MustCompile(`\{[^\}\{]+#[^\}\{]+\}`)

func (p *Player) isChoice(i int) (bool, error) {
	ls := p.lines()
	j := 0
	for {
		if i+j >= len(ls) {
			return false, fmt.Errorf("ran past the end of scene %s", p.curScene)
		}
		t := ls[i+j].text
		if !hasAnyPrefix(t, "*hide_reuse", "*disable_reuse", "*allow_reuse", "*if", "*else", "*selectable_if") {
			return strings.HasPrefix(t, "#"), nil
		}
		if strings.Contains(reBraceHash.ReplaceAllString(t, ""), "#") {
			return true, nil
		}
		j++
	}
}

// incIdx is upstream _inc_idx: the line after idx (entering a deeper block, else stepping
// over options and *else branches).
func (p *Player) incFrom(idx int) (int, error) {
	ls := p.lines()
	if idx+1 >= len(ls) {
		return 0, fmt.Errorf("ran past the end of scene %s", p.curScene)
	}
	if ls[idx+1].indent > ls[idx].indent {
		return idx + 1, nil
	}
	j := 1
	for {
		if idx+j >= len(ls) {
			return 0, fmt.Errorf("ran past the end of scene %s", p.curScene)
		}
		c, err := p.isChoice(idx + j)
		if err != nil {
			return 0, err
		}
		if !c && !strings.HasPrefix(ls[idx+j].text, "*else") {
			break
		}
		j += nestedLen(ls, idx+j)
	}
	if idx+j >= len(ls) || ls[idx+j].indent > ls[idx].indent {
		return 0, fmt.Errorf("bad indentation after line %d", idx)
	}
	return idx + j, nil
}

func (p *Player) incIdx() error {
	n, err := p.incFrom(p.idx)
	if err != nil {
		return err
	}
	p.idx = n
	return nil
}

// state executes the current line (upstream state()). It returns the text to print
// (isText), or the option texts at a choice.
func (p *Player) state() (text string, choices []string, isText bool, err error) {
	l, err := p.line(p.idx)
	if err != nil {
		return "", nil, false, err
	}
	line := l.text
	tmp := strings.ToLower(line)
	ls := p.lines()
	if !strings.HasPrefix(tmp, "*") {
		if err := p.incIdx(); err != nil {
			return "", nil, false, err
		}
		return line, nil, true, nil
	}
	has := func(ps ...string) bool { return hasAnyPrefix(tmp, ps...) }
	switch {
	case has("*choice", "*fake_choice"):
		n := nestedLen(ls, p.idx)
		if n < 2 {
			return "", nil, false, fmt.Errorf("*choice without options")
		}
		texts, targets, optLines, err := p.getChoices(p.idx+1, p.idx+n, p.hideReuse)
		if err != nil {
			return "", nil, false, err
		}
		if len(texts) == 0 {
			return "", nil, false, fmt.Errorf("*choice with no option available")
		}
		p.choiceLines = make([][2]int, len(texts))
		for i := range texts {
			t := targets[i]
			if t < 0 {
				if t, err = p.incFrom(p.idx + n - 1); err != nil {
					return "", nil, false, err
				}
			}
			p.choiceLines[i] = [2]int{t, optLines[i]}
		}
		p.choiceTexts = texts
		return "", texts, false, nil
	case has("*if"):
		n := conditionalLen(ls, p.idx)
		var conds []string
		var bodies []int
		j := 0
		for j < n {
			cl := nestedLen(ls, p.idx+j)
			if cl > n-j {
				cl = n - j
			}
			if cl <= 1 {
				return "", nil, false, fmt.Errorf("empty conditional clause %q", ls[p.idx+j].text)
			}
			if c, err := p.isChoice(p.idx + j); err != nil {
				return "", nil, false, err
			} else if c {
				return "", nil, false, fmt.Errorf("*if clause holds an option outside a *choice")
			}
			conds = append(conds, ls[p.idx+j].text)
			bodies = append(bodies, p.idx+j+1)
			j += cl
		}
		c, err := p.checkCond(conds)
		if err != nil {
			return "", nil, false, err
		}
		if c >= 0 {
			p.idx = bodies[c]
			return "", nil, false, nil
		}
		p.idx += j - 1
	case has("*achievement"):
		n := nestedLen(ls, p.idx)
		if err := p.setAch(ls[p.idx : p.idx+n]); err != nil {
			return "", nil, false, err
		}
		p.idx += n
		return "", nil, false, nil
	case has("*achieve"):
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*achieve without a name")
		}
		a := strings.ToLower(f[1])
		if !slices.Contains(p.unlocked, a) {
			p.unlocked = append(p.unlocked, a)
		}
	case has("*allow_reuse"):
		p.hideReuse = false
	case has("*bug"):
		return "", nil, false, fmt.Errorf("*bug reached")
	case has("*create"):
		f := splitN(line, 2)
		if len(f) != 3 {
			return "", nil, false, fmt.Errorf("*create needs a name and a value")
		}
		v, err := p.setVar(f[1], &f[2])
		if err != nil {
			return "", nil, false, err
		}
		p.addUserVar(v)
	case has("*ending", "*delay_ending"):
		return EndText, nil, true, nil
	case has("*finish"):
		i := slices.Index(p.src.sceneList, p.curScene) + 1
		if i <= 0 || i >= len(p.src.sceneList) {
			return "", nil, false, fmt.Errorf("*finish in the last scene of scene_list")
		}
		p.curScene = p.src.sceneList[i]
		if err := p.enterScene(); err != nil {
			return "", nil, false, err
		}
		p.idx = 0
		return "", nil, false, nil
	case has("*gotoref"):
		f := splitN(line, 1)
		if len(f) != 2 {
			return "", nil, false, fmt.Errorf("*gotoref without a target")
		}
		ref := f[1]
		getRef := !strings.ContainsAny(ref, `"'`)
		r, err := p.processExp(ref, true, true)
		if err != nil {
			return "", nil, false, err
		}
		r = strings.ToLower(strings.ReplaceAll(r, `"`, ""))
		name := p.curScene + "_" + r
		if getRef {
			v, ok := p.sym[r]
			s, isStr := v.(string)
			if !ok || !isStr {
				return "", nil, false, fmt.Errorf("*gotoref: %s is not a label name", r)
			}
			name = p.curScene + "_" + strings.ToLower(s)
		}
		i, ok := p.src.labels[name]
		if !ok {
			return "", nil, false, fmt.Errorf("no label %s", name)
		}
		p.idx = i
	case has("*goto_random_scene"):
		n := nestedLen(ls, p.idx)
		if n < 2 {
			return "", nil, false, fmt.Errorf("*goto_random_scene without scenes")
		}
		var scenes []string
		for _, s := range ls[p.idx+1 : p.idx+n] {
			scenes = append(scenes, s.text)
		}
		next := scenes[p.rnd.Choice(len(scenes))]
		if _, ok := p.src.scenes[next]; !ok {
			return "", nil, false, fmt.Errorf("no scene %s", next)
		}
		p.curScene = next
		if err := p.enterScene(); err != nil {
			return "", nil, false, err
		}
		p.idx = 0
		return "", nil, false, nil
	case has("*gosub_scene", "*goto_scene"):
		if has("*gosub_scene") {
			p.sceneHist = append(p.sceneHist, sceneLoc{p.curScene, p.idx})
		}
		split := splitIntoParams(line)
		if len(split) < 2 {
			return "", nil, false, fmt.Errorf("%s without a scene", split[0])
		}
		s, err := p.processExp(split[1], true, false)
		if err != nil {
			return "", nil, false, err
		}
		next := strings.ToLower(s)
		if _, ok := p.src.scenes[next]; !ok {
			return "", nil, false, fmt.Errorf("no scene %s", next)
		}
		p.curScene = next
		if err := p.enterScene(); err != nil {
			return "", nil, false, err
		}
		if len(split) == 2 {
			p.idx = 0
			return "", nil, false, nil
		}
		lab, err := p.processExp(split[2], true, false)
		if err != nil {
			return "", nil, false, err
		}
		i, ok := p.src.labels[p.curScene+"_"+strings.ToLower(lab)]
		if !ok {
			return "", nil, false, fmt.Errorf("no label %s in scene %s", strings.ToLower(lab), p.curScene)
		}
		p.idx = i
		p.params, p.hasParams = split[3:], true
	case has("*gosub", "*goto"):
		if has("*gosub") {
			p.sceneHist = append(p.sceneHist, sceneLoc{p.curScene, p.idx})
		}
		split := splitIntoParams(line)
		if len(split) < 2 {
			return "", nil, false, fmt.Errorf("%s without a label", split[0])
		}
		lab, err := p.processExp(split[1], true, false)
		if err != nil {
			return "", nil, false, err
		}
		i, ok := p.src.labels[p.curScene+"_"+strings.ToLower(lab)]
		if !ok {
			return "", nil, false, fmt.Errorf("no label %s in scene %s", strings.ToLower(lab), p.curScene)
		}
		p.idx = i
		p.params, p.hasParams = split[2:], true
	case has("*hide_reuse", "*disable_reuse"):
		if strings.Contains(line, "#") {
			return "", nil, false, fmt.Errorf("reuse command with an option outside a *choice")
		}
		p.hideReuse = true
	case has("*input_number"):
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*input_number without a variable")
		}
		one := "1"
		if _, err := p.setVar(f[1], &one); err != nil {
			return "", nil, false, err
		}
	case has("*input_text"):
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*input_text without a variable")
		}
		v := `"user_input"`
		if _, err := p.setVar(f[1], &v); err != nil {
			return "", nil, false, err
		}
	case has("*page_break"):
		if err := p.incIdx(); err != nil {
			return "", nil, false, err
		}
		rest := ""
		if len(line) > 12 {
			rest = line[12:]
		}
		return "*****" + rest + "*****", nil, true, nil
	case has("*params"):
		if !p.hasParams {
			return "", nil, false, fmt.Errorf("*params before any *gosub")
		}
		vars := strings.Fields(line)[1:]
		for i := 0; i < len(vars) && i < len(p.params); i++ {
			v := p.params[i]
			if _, err := p.setVar(vars[i], &v); err != nil {
				return "", nil, false, err
			}
		}
	case has("*rand"):
		f := splitN(line, 3)
		if len(f) != 4 {
			return "", nil, false, fmt.Errorf("*rand needs a variable and two bounds")
		}
		lo, err := p.userVarsEval(f[2])
		if err != nil {
			return "", nil, false, err
		}
		hi, err := p.userVarsEval(f[3])
		if err != nil {
			return "", nil, false, err
		}
		a, err := pyInt(lo)
		if err != nil {
			return "", nil, false, err
		}
		b, err := pyInt(hi)
		if err != nil {
			return "", nil, false, err
		}
		if b < a {
			return "", nil, false, fmt.Errorf("empty range for randint(%d, %d)", a, b)
		}
		v := strconv.FormatInt(p.rnd.Randint(a, b), 10)
		if _, err := p.setVar(f[1], &v); err != nil {
			return "", nil, false, err
		}
	case has("*return"):
		if len(p.sceneHist) == 0 {
			return "", nil, false, fmt.Errorf("*return without *gosub")
		}
		top := p.sceneHist[len(p.sceneHist)-1]
		p.sceneHist = p.sceneHist[:len(p.sceneHist)-1]
		p.curScene, p.idx = top.scene, top.idx
	case has("*script"):
	case has("*setref"):
		f := splitN(line, 2)
		if len(f) != 3 {
			return "", nil, false, fmt.Errorf("*setref needs a variable and a value")
		}
		getRef := !strings.ContainsAny(f[1], `"'`)
		v, err := p.processExp(f[1], true, true)
		if err != nil {
			return "", nil, false, err
		}
		v = strings.ToLower(strings.ReplaceAll(v, `"`, ""))
		if getRef {
			s, ok := p.sym[v].(string)
			if !ok {
				return "", nil, false, fmt.Errorf("*setref: %s does not name a variable", v)
			}
			v = s
		}
		if _, err := p.setVar(v, &f[2]); err != nil {
			return "", nil, false, err
		}
	case has("*set"):
		f := splitN(line, 2)
		if len(f) != 3 {
			return "", nil, false, fmt.Errorf("*set needs a variable and a value")
		}
		if _, err := p.setVar(f[1], &f[2]); err != nil {
			return "", nil, false, err
		}
	case has("*stat_chart", "*scene_list"):
		p.idx += nestedLen(ls, p.idx) - 1
	case has("*temp"):
		f := splitN(line, 2)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*temp without a name")
		}
		var val *string
		if len(f) == 3 {
			val = &f[2]
		}
		v, err := p.setVar(f[1], val)
		if err != nil {
			return "", nil, false, err
		}
		p.addUserVar(v)
		if p.sceneTemps[p.curScene] == nil {
			p.sceneTemps[p.curScene] = map[string]any{}
		}
		if _, ok := p.sceneTemps[p.curScene][v]; !ok {
			p.sceneTempKeys[p.curScene] = append(p.sceneTempKeys[p.curScene], v)
		}
		x, ok := p.sym[v]
		if !ok {
			return "", nil, false, &nameError{v}
		}
		p.sceneTemps[p.curScene][v] = x
	case has("*label", "*comment", "*image", "*link", "*title", "*author", "***", "* * *", "*reset", "*script",
		"*product", "*purchase", "*looplimit", "*line_break", "*restore_game", "*save_game", "*show_password",
		"*advertisement", "*text_image", "*subscribe", "*feedback", "*check_purchase", "*purchase_discount",
		"*delay_break", "*abort", "*check_achievements", "*(while stocks last)"):
	default:
		return "", nil, false, fmt.Errorf("unsupported command %q", strings.Fields(line)[0])
	}
	if err := p.incIdx(); err != nil {
		return "", nil, false, err
	}
	return "", nil, false, nil
}

func (p *Player) addUserVar(v string) {
	if !p.userVarSet[v] {
		p.userVarSet[v] = true
		p.userVars = append(p.userVars, v)
	}
}

// enterScene is upstream _reset_scene.
func (p *Player) enterScene() error {
	p.hideReuse = false
	for _, k := range p.discardOrder {
		if strings.HasPrefix(k, p.curScene) {
			p.discarded[k] = false
		}
	}
	for _, k := range p.sceneTempKeys[p.curScene] {
		p.sym[k] = p.sceneTemps[p.curScene][k]
	}
	return nil
}

func (p *Player) setAch(ls []srcLine) error {
	f := strings.Fields(ls[0].text)
	if len(f) < 4 || len(ls) < 2 {
		return fmt.Errorf("*achievement needs a name, visibility, points, title and a nested description")
	}
	pts, err := strconv.Atoi(f[3])
	if err != nil {
		return fmt.Errorf("*achievement points %q: %w", f[3], err)
	}
	a := Achievement{Name: strings.ToLower(f[1]), Visible: f[2] == "visible", Points: pts,
		Title: strings.Join(f[4:], " "), Pre: ls[1].text, Post: ls[1].text}
	if len(ls) > 2 {
		a.Post = ls[2].text
	}
	if _, ok := p.achievements[a.Name]; !ok {
		p.achOrder = append(p.achOrder, a.Name)
	}
	p.achievements[a.Name] = a
	return nil
}

// getChoices is upstream _get_choices over lines [from, to) of the current scene. A target of
// -1 means the option has no body.
func (p *Player) getChoices(from, to int, hide bool) (texts []string, targets, optLines []int, err error) {
	ls := p.lines()
	j := from
	for j < to {
		line := ls[j].text
		n := nestedLen(ls, j)
		if j+n > to {
			n = to - j
		}
		forceHide := false
		if strings.Contains(line, "*hide_reuse") || strings.Contains(line, "*disable_reuse") {
			forceHide = true
			line = pyStrip(strings.ReplaceAll(strings.ReplaceAll(line, "*hide_reuse", ""), "*disable_reuse", ""))
		}
		if strings.Contains(line, "#") {
			l := p.maybeDiscard(j, hide || forceHide)
			cond, text, _ := strings.Cut(l, "#")
			valid := !p.discarded[fmt.Sprintf("%s_%d", p.curScene, j)]
			if hasAnyPrefix(cond, "*if", "*elseif", "*else") {
				c, err := p.checkCond([]string{cond})
				if err != nil {
					return nil, nil, nil, err
				}
				valid = valid && c >= 0
			}
			if valid && text != "Return to the start of this chapter." {
				texts = append(texts, text)
				t := -1
				if n > 1 {
					t = j + 1
				}
				targets = append(targets, t)
				optLines = append(optLines, j)
			}
		} else if hasAnyPrefix(line, "*if", "*elseif", "*else") {
			c, err := p.checkCond([]string{line})
			if err != nil {
				return nil, nil, nil, err
			}
			if c >= 0 {
				t2, g2, o2, err := p.getChoices(j+1, j+n, hide)
				if err != nil {
					return nil, nil, nil, err
				}
				texts = append(texts, t2...)
				targets = append(targets, g2...)
				optLines = append(optLines, o2...)
			}
		}
		j += n
	}
	return texts, targets, optLines, nil
}

func (p *Player) maybeDiscard(idx int, hide bool) string {
	line := p.lines()[idx].text
	hideChoice := p.hideReuse
	if strings.Contains(line, "*hide_reuse") {
		line = strings.ReplaceAll(line, "*hide_reuse ", "")
		hideChoice = true
	} else if strings.Contains(line, "*disable_reuse") {
		line = strings.ReplaceAll(line, "*disable_reuse ", "")
		hideChoice = true
	}
	if strings.Contains(line, "*allow_reuse") {
		line = strings.ReplaceAll(line, "*allow_reuse ", "")
	} else if hideChoice || hide {
		name := fmt.Sprintf("%s_%d", p.curScene, idx)
		if _, ok := p.discarded[name]; !ok {
			p.discarded[name] = false
			p.discardOrder = append(p.discardOrder, name)
		}
	}
	if strings.Contains(line, "*selectable_if") {
		line = strings.ReplaceAll(line, "selectable_", "")
	}
	return line
}

// checkCond is upstream _check_cond: the index of the first true clause, or -1.
func (p *Player) checkCond(conds []string) (int, error) {
	for i, c := range conds {
		var text string
		switch {
		case strings.HasPrefix(c, "*if"):
			text = strings.Split(c, "*if")[1]
		case strings.HasPrefix(c, "*elseif"):
			text = strings.Split(c, "*elseif")[1]
		case strings.HasPrefix(c, "*else"):
			return i, nil
		default:
			return -1, fmt.Errorf("bad conditional %q", c)
		}
		v, err := p.checkText(text, true)
		if err != nil {
			return -1, err
		}
		if v.(bool) {
			return i, nil
		}
	}
	return -1, nil
}

// checkText is upstream _check_text: a condition evaluated with Python semantics.
func (p *Player) checkText(text string, mustBool bool) (any, error) {
	if strings.Contains(text, "choice_time_stamp") {
		return false, nil
	}
	text = replaceOutsideQuotes(text, []string{"TRUE", "true"}, "True")
	text = pyStrip(replaceOutsideQuotes(text, []string{"FALSE", "false"}, "False"))
	text, err := p.processExp(text, false, true)
	if err != nil {
		return nil, err
	}
	text, err = p.fairmath("None", text)
	if err != nil {
		return nil, err
	}
	res, err := p.userVarsEval(text)
	if err != nil {
		return nil, err
	}
	if mustBool {
		if _, ok := res.(bool); !ok {
			return nil, fmt.Errorf("condition %q is %s, not a bool", text, typeName(res))
		}
	}
	return res, nil
}

// userVarsEval is upstream _process_user_vars: evaluate, and on an unknown name evaluate again
// with every user variable's name lower-cased.
func (p *Player) userVarsEval(text string) (any, error) {
	text = pyStrip(text)
	v, err := evalExpr(text, p)
	if err == nil || len(p.userVars) == 0 || !isNameError(err) {
		if err != nil {
			return nil, fmt.Errorf("evaluating %q: %w", text, err)
		}
		return v, nil
	}
	text = replaceNames(text, p.userVars, true, strings.ToLower)
	v, err = evalExpr(text, p)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", text, err)
	}
	return v, nil
}

var (
	reAchieved = regexp.MustCompile(`choice_achieved_(\w+)`)
	reLength   = regexp.MustCompile(`length\((\w+)\)`)
	reHashIdx  = regexp.MustCompile(`(\w+)#(\w+)`)
	reBrace    = regexp.MustCompile(`\{([^\{\}]+)\}`)
	reParen    = regexp.MustCompile(`\(([^\(]*?)\)`)
)

// subFunc is re.sub with a function that may fail.
func subFunc(re *regexp.Regexp, s string, f func(m []string) (string, error)) (string, error) {
	var ferr error
	out := re.ReplaceAllStringFunc(s, func(x string) string {
		if ferr != nil {
			return x
		}
		r, err := f(re.FindStringSubmatch(x))
		if err != nil {
			ferr = err
			return x
		}
		return r
	})
	return out, ferr
}

// processExp is upstream _process_exp.
func (p *Player) processExp(text string, processAnd, processKw bool) (string, error) {
	var err error
	if strings.Contains(text, "choice_achieved_") {
		text = reAchieved.ReplaceAllStringFunc(text, func(x string) string {
			m := reAchieved.FindStringSubmatch(x)
			return pyStr(slices.Contains(p.unlocked, m[1]))
		})
	}
	if text, err = p.processText(text); err != nil {
		return "", err
	}
	text = strings.ReplaceAll(text, "=", "==")
	text = strings.ReplaceAll(text, "<==", "<=")
	text = strings.ReplaceAll(text, ">==", ">=")
	text = strings.ReplaceAll(text, "!==", "!=")
	text = strings.ReplaceAll(text, "modulo", "%")
	text = strings.ReplaceAll(text, "^", "**")
	text = strings.ReplaceAll(text, "round(", "round_to_int(")
	text, err = subFunc(reLength, text, func(m []string) (string, error) {
		v, err := evalExpr(m[1], p)
		if err != nil {
			return "", fmt.Errorf("length(%s): %w", m[1], err)
		}
		return strconv.Itoa(len([]rune(pyStr(v)))), nil
	})
	if err != nil {
		return "", err
	}
	if processKw && len(p.src.kwVars) > 0 {
		text = replaceNames(text, p.src.kwVars, false, func(s string) string { return strings.ToLower(s) + "_" })
	}
	text, err = subFunc(reHashIdx, text, func(m []string) (string, error) {
		a, err := p.processExp(m[1], true, true)
		if err != nil {
			return "", err
		}
		av, err := p.userVarsEval(a)
		if err != nil {
			return "", err
		}
		b, err := p.processExp(m[2], true, true)
		if err != nil {
			return "", err
		}
		bv, err := p.userVarsEval(b)
		if err != nil {
			return "", err
		}
		n, err := pyInt(bv)
		if err != nil {
			return "", err
		}
		c, err := pyIndex(pyStr(av), n-1)
		if err != nil {
			return "", err
		}
		return c.(string), nil
	})
	if err != nil {
		return "", err
	}
	for strings.Contains(text, "{") {
		if !strings.Contains(text, "}") {
			return "", fmt.Errorf("unbalanced braces in %q", text)
		}
		before := text
		text, err = subFunc(reBrace, text, func(m []string) (string, error) {
			addQuote := strings.Contains(m[1], `"`)
			t, err := p.processExp(m[1], true, true)
			if err != nil {
				return "", err
			}
			v, err := p.userVarsEval(strings.ReplaceAll(t, `"`, ""))
			if err != nil {
				return "", err
			}
			if s, ok := v.(string); ok && addQuote {
				return `"` + s + `"`, nil
			}
			return pyStr(v), nil
		})
		if err != nil {
			return "", err
		}
		if text == before {
			return "", fmt.Errorf("cannot resolve braces in %q", text)
		}
	}
	if strings.Contains(text, "&") {
		text = strings.ReplaceAll(strings.ReplaceAll(text, "(", ""), ")", "")
		parts := splitAmpOutsideQuotes(text)
		if processAnd {
			var b strings.Builder
			for _, part := range parts {
				v, err := p.userVarsEval(part)
				if err != nil {
					return "", err
				}
				b.WriteString(pyStr(v))
			}
			text = `"` + b.String() + `"`
		} else {
			text = strings.Join(parts, "+")
		}
	}
	return text, nil
}

// processText is upstream _process_text: ${}, $!{}, $!!{} and @{} interpolation.
func (p *Player) processText(text string) (string, error) {
	for _, key := range []string{"${", "$!{", "$!!{", "@{"} {
		for strings.Contains(text, key) {
			i := strings.Index(text, key) + len(key)
			j, count := 0, 1
			for count > 0 {
				if i+j >= len(text) {
					return "", fmt.Errorf("unbalanced %s} in %q", key, text)
				}
				switch text[i+j] {
				case '{':
					count++
				case '}':
					count--
				}
				j++
			}
			match := text[i : i+j-1]
			var sub string
			var err error
			if key == "@{" {
				sub, err = p.multi(match)
			} else {
				sub, err = p.single(match)
			}
			if err != nil {
				return "", err
			}
			switch key {
			case "$!{":
				sub = pyCapitalize(sub)
			case "$!!{":
				sub = strings.ToUpper(sub)
			}
			text = text[:i-len(key)] + sub + text[i+j:]
		}
	}
	return text, nil
}

func (p *Player) single(match string) (string, error) {
	v := strings.ToLower(match)
	parts := strings.Split(v, "#")
	if len(parts) == 1 {
		r, err := p.checkText(v, false)
		if err != nil {
			return "", err
		}
		return pyStr(r), nil
	}
	if len(parts) != 2 {
		return "", fmt.Errorf("bad ${%s}", match)
	}
	lv, err := p.checkText(parts[1], false)
	if err != nil {
		return "", err
	}
	l, err := pyInt(lv)
	if err != nil {
		return "", err
	}
	x, err := evalExpr(parts[0], p)
	if err != nil {
		return "", fmt.Errorf("evaluating %q: %w", parts[0], err)
	}
	c, err := pyIndex(pyStr(x), l-1)
	if err != nil {
		return "", err
	}
	return c.(string), nil
}

func (p *Player) multi(match string) (string, error) {
	ps := splitIntoParams(match)
	if len(ps) == 0 {
		return "", fmt.Errorf("empty @{}")
	}
	exp := ps[0]
	opts := strings.Split(pyStrip(strings.ReplaceAll(match, exp, "")), "|")
	v, err := p.checkText(exp, false)
	if err != nil {
		return "", err
	}
	var n int64
	if b, ok := v.(bool); ok {
		n = 2
		if b {
			n = 1
		}
	} else if n, err = pyInt(v); err != nil {
		return "", err
	}
	i := n - 1
	if i < 0 {
		i += int64(len(opts))
	}
	if i < 0 || i >= int64(len(opts)) {
		return "", fmt.Errorf("@{%s}: option %d out of range", match, n)
	}
	return opts[i], nil
}

// fairmath is upstream _fairmath.
func (p *Player) fairmath(name, val string) (string, error) {
	val = pyStrip(val)
	if strings.HasPrefix(val, "%+") || strings.HasPrefix(val, "%-") {
		val = "(" + name + " " + val + ")"
	}
	fix := func(s string) string {
		if strings.HasPrefix(s, "round_to_int") {
			return "round_to_int(" + s[12:] + ")"
		}
		return s
	}
	evalPart := func(s string) (any, error) {
		t, err := p.processExp(s, true, true)
		if err != nil {
			return nil, err
		}
		return p.userVarsEval(t)
	}
	for strings.Contains(val, "%+") || strings.Contains(val, "%-") {
		val = "(" + val + ")"
		var err error
		val, err = subFunc(reParen, val, func(m []string) (string, error) {
			t := m[1]
			if !strings.Contains(t, "%+") && !strings.Contains(t, "%-") {
				v, err := evalPart(fix(t))
				if err != nil {
					return "", err
				}
				return pyStr(v), nil
			}
			sep, add := "%-", false
			if strings.Contains(t, "%+") {
				sep, add = "%+", true
			}
			parts := strings.Split(t, sep)
			if len(parts) != 2 {
				return "", fmt.Errorf("fairmath: bad expression %q", t)
			}
			parts[1] = fix(parts[1])
			ov, err := evalPart(parts[0])
			if err != nil {
				return "", err
			}
			nv, err := evalPart(parts[1])
			if err != nil {
				return "", err
			}
			o, err := pyFloat(ov)
			if err != nil {
				return "", err
			}
			n, err := pyFloat(nv)
			if err != nil {
				return "", err
			}
			var r float64
			if add {
				r = o + (100-o)*n/100
			} else {
				r = o - o*n/100
			}
			rv, err := pyRound(r)
			if err != nil {
				return "", err
			}
			return pyStr(rv), nil
		})
		if err != nil {
			return "", err
		}
	}
	return val, nil
}

// setVar is upstream _set_var; val nil means no value. It returns the variable's name.
func (p *Player) setVar(name string, val *string) (string, error) {
	v, err := p.processExp(strings.ToLower(name), true, true)
	if err != nil {
		return "", err
	}
	name = strings.ReplaceAll(v, `"`, "")
	if val == nil {
		p.sym[name] = nil
		p.updateTemp(name)
		return name, nil
	}
	s := *val
	if strings.HasPrefix(s, "&") {
		add, err := p.processExp(s[1:], true, true)
		if err != nil {
			return "", err
		}
		cur, ok := p.sym[name]
		if !ok {
			return "", &nameError{name}
		}
		r, err := binop("+", cur, `"`+add+`"`)
		if err != nil {
			return "", err
		}
		p.sym[name] = r
		p.updateTemp(name)
		return name, nil
	}
	hasHash := strings.Contains(s, "#")
	if s, err = p.processExp(s, true, true); err != nil {
		return "", err
	}
	if s, err = p.fairmath(name, s); err != nil {
		return "", err
	}
	low := strings.ToLower(strings.ReplaceAll(s, `"`, ""))
	switch {
	case s == "":
		p.sym[name] = ""
	case low == "true":
		p.sym[name] = true
	case low == "false" || strings.Contains(s, "choice_time_stamp"):
		p.sym[name] = false
	case strings.ContainsAny(s[:1], "+-*/"):
		x, err := evalExpr(strings.ToLower(pyStrip(s[1:])), p)
		if err != nil {
			return "", fmt.Errorf("evaluating %q: %w", s[1:], err)
		}
		// The reference executes "name op= str(x)".
		if x, err = evalExpr(pyStr(x), p); err != nil {
			return "", fmt.Errorf("evaluating %q: %w", pyStr(x), err)
		}
		cur, ok := p.sym[name]
		if !ok {
			return "", &nameError{name}
		}
		r, err := binop(s[:1], cur, x)
		if err != nil {
			cs, isStr := cur.(string)
			if !isStr {
				return "", err
			}
			f, err := pyFloat(cs)
			if err != nil {
				return "", err
			}
			if r, err = binop(s[:1], f, x); err != nil {
				return "", err
			}
		}
		p.sym[name] = r
	case strings.Contains(s, "="):
		r, err := p.userVarsEval(s)
		if err != nil {
			return "", err
		}
		p.sym[name] = r
	case strings.ContainsAny(s, `"'`) || hasHash:
		p.sym[name] = strings.ReplaceAll(strings.ReplaceAll(s, `\`, ""), `"`, "")
	default:
		r, err := evalExpr(s, p)
		if err != nil && isNameError(err) {
			r, err = evalExpr(replaceNames(s, p.userVars, true, strings.ToLower), p)
		}
		if err != nil {
			return "", fmt.Errorf("evaluating %q: %w", s, err)
		}
		p.sym[name] = r
	}
	p.updateTemp(name)
	return name, nil
}

func (p *Player) updateTemp(name string) {
	if t, ok := p.sceneTemps[p.curScene]; ok {
		if _, ok := t[name]; ok {
			t[name] = p.sym[name]
		}
	}
}
