/*
 * The type the Grafana dashboard of deploy/grafana/ must have, from the types
 * Grafana publishes (npm @grafana/schema): tests/cli/test_dashboard.sh appends
 *
 *     export const dashboard: MregDashboard = <the dashboard's JSON>;
 *
 * and type-checks the result with tsc --strict. An object literal gets
 * TypeScript's excess-property check, so a field the schema does not know
 * fails as surely as a field of the wrong type.
 *
 * What is narrowed here, and why:
 * - A panel is Grafana's Panel with its type fixed ('stat', 'timeseries',
 *   ...) and its options and fieldConfig.defaults.custom typed by that panel
 *   plugin's published Options and FieldConfig (Grafana leaves them
 *   Record<string, unknown> in Panel itself).
 * - A target is Grafana's PrometheusDataQuery (expr, legendFormat, instant,
 *   range, format, editorMode), published in @grafana/schema 10.4; Grafana
 *   11's Panel types targets as Record<string, unknown>.
 * - An annotation is Grafana's AnnotationQuery plus the fields the Prometheus
 *   data source reads from the annotation itself (expr, step, titleFormat,
 *   textFormat, tagKeys, useValueForTime: its annotationQuery()); no
 *   published type lists them.
 * - JSON has no enums: JSONOf<T> turns each string enum of a type (e.g.
 *   ThresholdsMode) into the union of its values ('absolute' | 'percentage'),
 *   which is what Grafana reads and writes. Numeric enums stay as they are.
 */
import type { AnnotationQuery, Dashboard, Panel, RowPanel } from '@grafana/schema';
import type * as bargauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen.d.ts';
import type * as piechart from '@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen.d.ts';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen.d.ts';
import type * as table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen.d.ts';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.d.ts';
import type { PrometheusDataQuery } from 'grafana-schema-10/dist/esm/raw/composable/prometheus/dataquery/x/PrometheusDataQuery_types.gen';

type JSONOf<T> =
	T extends string ? (string extends T ? string : `${T}`) :
	T extends number | boolean | null | undefined ? T :
	T extends ReadonlyArray<infer U> ? Array<JSONOf<U>> :
	T extends object ? { [K in keyof T]: JSONOf<T[K]> } :
	T;

type PanelOf<Type extends string, Options, Custom> =
	Omit<Panel<Options, Custom>, 'type' | 'options' | 'targets'> & {
		type: Type;
		options?: Options;
		targets?: PrometheusDataQuery[];
	};

type AnyPanel =
	| PanelOf<'bargauge', bargauge.Options, Record<string, never>>
	| PanelOf<'piechart', piechart.Options, piechart.FieldConfig>
	| PanelOf<'stat', stat.Options, Record<string, never>>
	| PanelOf<'table', table.Options, table.FieldConfig>
	| PanelOf<'timeseries', timeseries.Options, timeseries.FieldConfig>
	| (Omit<RowPanel, 'panels'> & { panels: AnyPanel[] });

type PrometheusAnnotation = AnnotationQuery<PrometheusDataQuery> & {
	expr?: string;
	step?: string;
	titleFormat?: string;
	textFormat?: string;
	tagKeys?: string;
	useValueForTime?: boolean;
};

export type MregDashboard = JSONOf<
	Omit<Dashboard, 'panels' | 'annotations'> & {
		panels: AnyPanel[];
		annotations: { list: PrometheusAnnotation[] };
	}
>;
