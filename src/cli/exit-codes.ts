/** Exit code for usage and runtime errors of understudy itself (guests keep their own codes). */
export const EXIT_FAILURE = 70
