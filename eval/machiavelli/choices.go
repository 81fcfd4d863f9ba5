// Choices, conditions, scenes and achievements: option lists (#, *selectable_if,
// *hide_reuse), *if chains, scene entry and *achievement declarations.

package machiavelli

import (
	"fmt"
	"strconv"
	"strings"
)

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
