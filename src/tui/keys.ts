/** Maps key presses to the TUI's commands; what a command does depends on the view (navigation.ts). */
import type { Key } from 'ink'

export type UiCommand =
  | 'up'
  | 'down'
  | 'page-up'
  | 'page-down'
  | 'top'
  | 'bottom'
  | 'next-pane'
  | 'prev-pane'
  | 'open'
  | 'back'
  | 'help'
  | 'quit'
  | 'interrupt'
  | 'failover'
  | 'stop'
  | 'explain'
  | 'yes'
  | 'no'
  | 'other'

/** The command a key press means, or undefined for keys the TUI ignores (releases, modifiers alone). */
export function keyCommand(input: string, key: Partial<Key>): UiCommand | undefined {
  if (key.eventType === 'release') return undefined
  if (key.ctrl && input === 'c') return 'interrupt'
  if (key.upArrow) return 'up'
  if (key.downArrow) return 'down'
  if (key.pageUp) return 'page-up'
  if (key.pageDown) return 'page-down'
  if (key.home) return 'top'
  if (key.end) return 'bottom'
  if (key.tab) return key.shift ? 'prev-pane' : 'next-pane'
  if (key.return) return 'open'
  if (key.escape || key.backspace || key.delete || key.leftArrow) return 'back'
  if (key.rightArrow) return 'open'
  if (key.ctrl || key.meta) return undefined
  switch (input) {
    case 'k':
      return 'up'
    case 'j':
      return 'down'
    case 'g':
      return 'top'
    case 'G':
      return 'bottom'
    case 'h':
      return 'back'
    case 'l':
      return 'open'
    case '?':
      return 'help'
    case 'q':
      return 'quit'
    case 'f':
      return 'failover'
    case 's':
      return 'stop'
    case 'e':
      return 'explain'
    case 'y':
    case 'Y':
      return 'yes'
    case 'n':
    case 'N':
      return 'no'
    case '':
      return undefined
    default:
      return 'other'
  }
}
