/** Where the offline plots template is committed: .dvc/offline_plots.html. */
export declare const TEMPLATE: string;
/** The npm packages inlined, in the order the page runs them. */
export declare const LIBRARIES: readonly string[];
/** The template built from the installed, pinned packages. */
export declare function buildPlotsTemplate(): string;
