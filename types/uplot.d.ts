// The part of uPlot 1.6.32 (runship/web/static/vendor/uPlot.iife.min.js, a global `uPlot`)
// that the page uses, written by hand for the type checker: not shipped, not complete.

declare namespace uPlot {
  type Data = [number[], ...(number | null)[][]];

  interface Series {
    label?: string;
    stroke?: string;
    fill?: string;
    width?: number;
    dash?: number[];
    alpha?: number;
    show?: boolean;
    spanGaps?: boolean;
    paths?: PathBuilder | (() => null);
    points?: { show?: boolean; size?: number; space?: number; width?: number; stroke?: string; fill?: string };
  }

  interface Axis {
    stroke?: string;
    grid?: { stroke?: string; width?: number };
    ticks?: { stroke?: string; width?: number; size?: number };
    font?: string;
    size?: number;
    space?: number;
    label?: string | null;
    labelSize?: number;
    labelFont?: string;
    splits?: (u: uPlot) => number[];
    values?: (u: uPlot, splits: number[]) => (string | number)[];
  }

  interface Scale {
    time?: boolean;
    distr?: number;
    log?: number;
    range?: (u: uPlot, min: number, max: number) => [number, number];
  }

  interface Band {
    series: [number, number];
    fill?: string;
  }

  interface Rect {
    left: number;
    top: number;
    width: number;
    height: number;
  }

  interface Cursor {
    drag?: { x?: boolean; y?: boolean; setScale?: boolean };
    sync?: { key: string };
    points?: { show?: boolean };
    bind?: { dblclick?: (u: uPlot, target: HTMLElement, handler: (e: MouseEvent) => null) => (e: MouseEvent) => null };
  }

  interface Options {
    width: number;
    height: number;
    series: Series[];
    bands?: Band[];
    axes?: Axis[];
    scales?: Record<string, Scale>;
    legend?: { show?: boolean };
    cursor?: Cursor;
    hooks?: { setSelect?: ((u: uPlot) => void)[]; setCursor?: ((u: uPlot) => void)[] };
  }

  type PathBuilder = (u: uPlot, seriesIdx: number, idx0: number, idx1: number) => unknown;
}

declare class uPlot {
  constructor(opts: uPlot.Options, data: uPlot.Data, target: HTMLElement);
  readonly data: uPlot.Data;
  readonly width: number;
  readonly ctx: CanvasRenderingContext2D;
  readonly select: uPlot.Rect;
  readonly cursor: { idx?: number | null; left?: number; top?: number };
  readonly series: uPlot.Series[];
  readonly scales: Record<string, { min?: number | null; max?: number | null }>;
  readonly over: HTMLElement;
  readonly root: HTMLElement;
  valToPos(val: number, scaleKey: string, canvasPixels?: boolean): number;
  redraw(rebuildPaths?: boolean, recalcAxes?: boolean): void;
  setData(data: uPlot.Data, resetScales?: boolean): void;
  setScale(key: string, limits: { min: number; max: number }): void;
  setSelect(rect: uPlot.Rect, fireHook?: boolean): void;
  setSize(size: { width: number; height: number }): void;
  posToVal(pos: number, scaleKey: string): number;
  batch(fn: () => void): void;
  destroy(): void;
  static paths: { bars: (opts?: { size?: [number, number] }) => uPlot.PathBuilder };
}
