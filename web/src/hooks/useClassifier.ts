/**
 * Classification: which classifier (grouped by family, the first listed the default), an image
 * from a file or the generator prepared off the main thread, the engine call, the ranking, a busy
 * sign while any of it runs, and the test hook's probabilities.
 */

import { useEffect, useRef, useState } from 'react';
import { groupClassifiers, labelOf, probabilitiesOf, type ClassifierGroup } from '../classifiers';
import type { Engine } from '../engine';
import { messageOf } from '../errors';
import { ImagePreparer, Superseded } from '../images';
import type { ModelEntry } from '../manifest';
import { toTensor, type Aspect, type RgbImage } from '../preprocess';
import { testHook } from '../testHook';
import type { Classification, ClassificationStats, PreparedImage } from '../types';

export interface Classifier {
  groups: ClassifierGroup[];
  classifier?: ModelEntry;
  choose: (id: string) => void;
  picked?: PreparedImage;
  /** What is running, e.g. "Reading photo.png…"; undefined when idle. */
  busy?: string;
  error?: string;
  result?: Classification;
  stats?: ClassificationStats;
  openFile: (file: File) => void;
  pickGenerated: (name: string, image: RgbImage) => void;
}

export function useClassifier(engine: Engine | undefined, entries: ModelEntry[], aspect: Aspect): Classifier {
  const [chosen, choose] = useState<string>();
  const [picked, setPicked] = useState<PreparedImage>();
  const [reading, setReading] = useState<string>();
  const [classifying, setClassifying] = useState<string>();
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<Classification>();
  const [stats, setStats] = useState<ClassificationStats>();
  const preparer = useRef<ImagePreparer>(null);
  const groups = groupClassifiers(entries);
  const all = groups.flatMap((group) => group.models.map(({ entry }) => entry));
  const classifier = all.find((entry) => entry.id === chosen) ?? all[0];
  const sizes = [...new Set(all.map((entry) => entry.image_size))];

  useEffect(() => () => preparer.current?.terminate(), []);

  function prepare(name: string, source: Blob | RgbImage): void {
    preparer.current ??= new ImagePreparer();
    setReading(`Reading ${name}…`);
    setError(undefined);
    preparer.current.prepare(name, source, sizes, aspect).then(
      (image) => {
        setResult(undefined);
        setPicked(image);
        setReading(undefined);
      },
      (failure: unknown) => {
        if (failure instanceof Superseded) return;
        setError(messageOf(failure));
        setReading(undefined);
      },
    );
  }

  useEffect(() => {
    if (!engine || !classifier || !picked) return;
    let live = true;
    const input = picked.inputs[classifier.image_size];
    setClassifying(`Classifying ${picked.name} with ${labelOf(classifier)}…`);
    engine
      .classify(classifier.id, toTensor(input, classifier.layout, classifier.input_range ?? [0, 255]))
      .then(({ output, ms }) => {
        if (!live) return;
        const probabilities = probabilitiesOf(classifier, output);
        const ranked = Array.from(probabilities, (probability, index) => ({
          name: classifier.class_names[index],
          probability,
        })).sort((a, b) => b.probability - a.probability);
        setResult({ model: classifier.id, ranked });
        setError(undefined);
        setStats({ model: classifier.id, ms });
        const hook = testHook();
        if (hook) {
          hook.probabilities = Array.from(probabilities);
          hook.classifier = classifier.id;
        }
      })
      .catch((failure: unknown) => live && setError(`Classification failed: ${messageOf(failure)}`))
      .finally(() => live && setClassifying(undefined));
    return () => {
      live = false;
    };
  }, [engine, classifier, picked]);

  return {
    groups,
    classifier,
    choose,
    picked,
    busy: reading ?? classifying,
    error,
    result,
    stats,
    openFile: (file) => prepare(file.name, file),
    pickGenerated: (name, image) => prepare(name, image),
  };
}
