/**
 * Option shapes several commands share: an enum flag whose choices show in
 * the help and in shell completion, and the flags of a command that starts
 * or follows a job.
 */
import { Option } from '@commander-js/extra-typings';
import { type EnumParser, enumList, uuid } from './values.js';

/** A flag taking one name of an enum (or word list); commander's help and the completion list the choices. */
export function choiceOption<const F extends string, T extends string>(flags: F, description: string, parser: EnumParser<T>) {
  const option = new Option(flags, description).argParser(parser.parse);
  option.argChoices = parser.choices;
  return option;
}

/** The same, repeatable, and taking comma-separated lists. */
export function choiceListOption<const F extends string, T extends string>(flags: F, description: string, parser: EnumParser<T>) {
  const option = new Option(flags, description).argParser(enumList(parser));
  option.argChoices = parser.choices;
  return option;
}

export const cancelOnInterruptOption = () =>
  new Option('--cancel-on-interrupt', 'Ctrl-C cancels the job and waits for its end (default: the job continues on the agent)');

export const requestIdOption = () =>
  new Option('--request-id <UUID>', 'retry a request: the id a first try printed (default: a new one)').argParser(uuid);
