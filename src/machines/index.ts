import type { AnyStateMachine } from 'xstate';

// TEMPORARY stub so the diagram generator and its test compile: the integrator replaces this file
// with the registry of every machine (name, machine, one-line description).
export const MACHINES: { name: string; machine: AnyStateMachine; description: string }[] = [];
